import { createHash, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

/** RFC 9449 §4.2 `ath`: base64url SHA-256 of the access token's ASCII value. */
export const athOf = (accessToken: string) => createHash('sha256').update(accessToken, 'ascii').digest('base64url');

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** What a test may change in a proof: any claim or header member, or leave one out (`undefined`). */
export interface ProofOverrides {
  htm?: string;
  htu?: string;
  ath?: string | undefined;
  iat?: number | undefined;
  jti?: string | undefined;
  typ?: string;
  alg?: string;
  jwk?: JWK;
}

/**
 * A client's DPoP key (RFC 9449 §2) and the proofs it makes: every proof is valid for the request it names unless a
 * test overrides a part of it, so an attack test changes exactly one thing.
 */
export class DpopKey {
  private constructor(
    readonly alg: string,
    readonly privateKey: CryptoKey,
    readonly publicJwk: JWK,
    readonly thumbprint: string,
  ) {}

  static async generate(alg = 'ES256'): Promise<DpopKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    return new DpopKey(alg, privateKey, publicJwk, await calculateJwkThumbprint(publicJwk));
  }

  /** The private key as a JWK, which must never be accepted as a proof's `jwk`. */
  privateJwk(): Promise<JWK> {
    return exportJWK(this.privateKey);
  }

  /** A proof for `htm` `htu` (with `ath` of `accessToken` when given), signed with this key. */
  async proof(htm: string, htu: string, accessToken?: string, overrides: ProofOverrides = {}): Promise<string> {
    const claims: Record<string, unknown> = {
      htm,
      htu,
      iat: Math.floor(Date.now() / 1000),
      jti: randomBytes(16).toString('base64url'),
      ...(accessToken ? { ath: athOf(accessToken) } : {}),
    };
    for (const name of ['htm', 'htu', 'ath', 'iat', 'jti'] as const) {
      if (name in overrides) {
        if (overrides[name] === undefined) delete claims[name];
        else claims[name] = overrides[name];
      }
    }
    return new SignJWT(claims)
      .setProtectedHeader({ alg: overrides.alg ?? this.alg, typ: overrides.typ ?? 'dpop+jwt', jwk: overrides.jwk ?? this.publicJwk })
      .sign(this.privateKey);
  }
}

/** An unsigned proof (`alg: none`, RFC 7519 §6): header and claims as a valid proof would have them. */
export function unsignedProof(jwk: JWK, claims: Record<string, unknown>): string {
  return `${b64({ alg: 'none', typ: 'dpop+jwt', jwk })}.${b64(claims)}.`;
}

/**
 * A proof MACed with a shared secret: by default it carries the secret as an `oct` JWK (anyone could make it, so it
 * proves nothing); with `jwk`, it names that (public) key instead, hoping a verifier uses it as the MAC key.
 */
export async function hmacProof(claims: Record<string, unknown>, jwk?: JWK): Promise<string> {
  const secret = randomBytes(32);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: jwk ?? ({ kty: 'oct', k: secret.toString('base64url') } as never) })
    .sign(secret);
}

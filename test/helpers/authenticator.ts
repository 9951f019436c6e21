/**
 * A software WebAuthn authenticator for tests: it plays both the browser (the WebAuthn "client",
 * which builds clientDataJSON) and a platform authenticator holding synced passkeys (ES256 / P-256,
 * attestation format "none"). Feed it the JSON options from @simplewebauthn/server's
 * generateRegistrationOptions / generateAuthenticationOptions and it returns the
 * RegistrationResponseJSON / AuthenticationResponseJSON that the verify functions accept.
 *
 * Spec references are to WebAuthn Level 3, https://www.w3.org/TR/webauthn-3/.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

export interface AuthenticatorOptions {
  origin: string;
  rpId: string;
}

export interface Tamper {
  // for negative tests (each defaults to honest behaviour)
  origin?: string; // clientDataJSON.origin
  type?: string; // clientDataJSON.type
  challenge?: string; // base64url challenge put in clientDataJSON instead of the given one
  rpId?: string; // hash this RP ID into authenticatorData instead
  userPresent?: boolean; // UP flag
  userVerified?: boolean; // UV flag
  counter?: number; // signature counter to report (default: stored counter + 1)
  badSignature?: boolean; // corrupt the signature
  userHandle?: string | null; // override userHandle (base64url) in assertions
}

interface StoredCredential {
  id: string; // base64url credential ID
  rpId: string;
  userHandle: string; // base64url user.id from the creation options
  counter: number;
  privateKey: KeyObject;
}

// Authenticator data flags, §6.1 "Authenticator Data".
const UP = 0x01,
  UV = 0x04,
  BE = 0x08,
  BS = 0x10,
  AT = 0x40;
// COSE algorithm -7 = ES256 (§5.8.5, RFC 9053); the only one this authenticator supports.
const ES256 = -7;
// "none" attestation carries an all-zero AAGUID (§6.5.1 "Attested Credential Data").
const ZERO_AAGUID = Buffer.alloc(16);

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string): Buffer => createHash('sha256').update(data).digest();

// --- Minimal CBOR encoder (RFC 8949), just the types WebAuthn needs here. -----------------------
type Cbor = number | string | Uint8Array | Map<number | string, Cbor>;

/** Initial byte + argument (RFC 8949 §3): small values inline, else 1/2/4-byte big-endian. */
function cborHead(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) {
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

function cborEncode(value: Cbor): Buffer {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || Math.abs(value) > 0xffffffff) throw new Error(`CBOR: unsupported number ${value}`);
    return value >= 0 ? cborHead(0, value) : cborHead(1, -1 - value); // major 0 uint, major 1 negative
  }
  if (typeof value === 'string') {
    const utf8 = Buffer.from(value, 'utf8');
    return Buffer.concat([cborHead(3, utf8.length), utf8]); // major 3 text string
  }
  if (value instanceof Uint8Array) return Buffer.concat([cborHead(2, value.length), value]); // major 2 bytes
  // Major 5 map; entries are written in insertion order, which callers keep in CTAP2 canonical
  // order (§6.5.4 / CTAP2 "CTAP2 canonical CBOR encoding form").
  const parts = [cborHead(5, value.size)];
  for (const [k, v] of value) parts.push(cborEncode(k), cborEncode(v));
  return Buffer.concat(parts);
}

// --- The authenticator ----------------------------------------------------------------------------
export class SoftwareAuthenticator {
  readonly #origin: string;
  readonly #rpId: string;
  readonly #creds: StoredCredential[] = [];

  constructor(opts: AuthenticatorOptions) {
    this.#origin = opts.origin;
    this.#rpId = opts.rpId;
  }

  get credentials(): ReadonlyArray<{ id: string; userHandle: string; counter: number }> {
    return this.#creds.map(({ id, userHandle, counter }) => ({ id, userHandle, counter }));
  }

  /** Forget a credential (simulates a deleted passkey on the device). */
  remove(id: string): void {
    const i = this.#creds.findIndex((c) => c.id === id);
    if (i >= 0) this.#creds.splice(i, 1);
  }

  /** Creates a discoverable credential; remembers it (id, private key, userHandle = options.user.id, counter). */
  register(options: PublicKeyCredentialCreationOptionsJSON, tamper: Tamper = {}): RegistrationResponseJSON {
    const rpId = this.#checkRpId(options.rp.id);
    // §5.1.3 step 10: only ES256 is supported, so the RP must offer it.
    if (!options.pubKeyCredParams.some((p) => p.type === 'public-key' && p.alg === ES256)) {
      throw new Error('NotSupportedError: RP does not accept ES256 (-7)');
    }
    // §6.3.2 authenticatorMakeCredential step 3: refuse if we already hold an excluded credential.
    const excluded = new Set((options.excludeCredentials ?? []).map((d) => d.id));
    if (this.#creds.some((c) => c.rpId === rpId && excluded.has(c.id))) {
      throw new Error('InvalidStateError: authenticator already holds an excluded credential');
    }

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const credId = randomBytes(16);
    const cred: StoredCredential = { id: b64url(credId), rpId, userHandle: options.user.id, counter: 0, privateKey };

    // Credential public key as a COSE_Key (§6.5.1.1 example; RFC 9053 §7.1 EC2 key):
    // {1 (kty): 2 (EC2), 3 (alg): -7, -1 (crv): 1 (P-256), -2 (x), -3 (y)}.
    const jwk = publicKey.export({ format: 'jwk' });
    const coseKey = cborEncode(
      new Map<number, Cbor>([
        [1, 2],
        [3, ES256],
        [-1, 1],
        [-2, Buffer.from(jwk.x ?? '', 'base64url')],
        [-3, Buffer.from(jwk.y ?? '', 'base64url')],
      ]),
    );
    // Attested credential data (§6.5.1): aaguid(16) || credentialIdLength(2, BE) || credentialId || key.
    const credIdLen = Buffer.alloc(2);
    credIdLen.writeUInt16BE(credId.length);
    const attested = Buffer.concat([ZERO_AAGUID, credIdLen, credId, coseKey]);
    const authData = this.#authData(rpId, cred.counter, AT, tamper, attested);

    // Attestation object (§6.5.4) with the "none" statement format (§8.7): {fmt, attStmt: {}, authData}.
    const attestationObject = cborEncode(
      new Map<string, Cbor>([
        ['fmt', 'none'],
        ['attStmt', new Map()],
        ['authData', authData],
      ]),
    );
    const clientDataJSON = this.#clientData('webauthn.create', options.challenge, tamper);

    this.#creds.push(cred);
    return {
      id: cred.id,
      rawId: cred.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      // AuthenticatorAttestationResponse plus its getters (§5.2.1: getTransports, getAuthenticatorData,
      // getPublicKey as SPKI DER, getPublicKeyAlgorithm), as serialized by toJSON() (§5.1.8).
      response: {
        clientDataJSON: b64url(clientDataJSON),
        attestationObject: b64url(attestationObject),
        authenticatorData: b64url(authData),
        transports: ['internal', 'hybrid'],
        publicKeyAlgorithm: ES256,
        publicKey: b64url(publicKey.export({ format: 'der', type: 'spki' })),
      },
    };
  }

  /**
   * Signs an assertion with a remembered credential: the one in options.allowCredentials if given,
   * else (discoverable / usernameless) the most recent credential for options.rpId, or the one whose
   * id is passed in `credentialId`.
   */
  authenticate(
    options: PublicKeyCredentialRequestOptionsJSON,
    tamper: Tamper & { credentialId?: string } = {},
  ): AuthenticationResponseJSON {
    const rpId = this.#checkRpId(options.rpId);
    // §6.3.3 authenticatorGetAssertion steps 6-7: candidates are this RP's credentials, narrowed to
    // allowCredentials when that list is non-empty; with none left the ceremony fails (NotAllowedError).
    const allowed = options.allowCredentials?.length ? new Set(options.allowCredentials.map((d) => d.id)) : undefined;
    const candidates = this.#creds.filter((c) => c.rpId === rpId && (!allowed || allowed.has(c.id)));
    const cred =
      tamper.credentialId !== undefined ? candidates.find((c) => c.id === tamper.credentialId) : candidates[candidates.length - 1];
    if (!cred) throw new Error('NotAllowedError: no matching credential on this authenticator');

    // §6.1.1 signature counter: increment per assertion. A tampered value is reported as given, but
    // the device's own counter never goes backwards.
    const counter = tamper.counter ?? cred.counter + 1;
    cred.counter = Math.max(cred.counter, counter);

    const authData = this.#authData(rpId, counter, 0, tamper);
    const clientDataJSON = this.#clientData('webauthn.get', options.challenge, tamper);
    // §6.3.3 step 11: sign authenticatorData || SHA-256(clientDataJSON); ES256 signatures are
    // ASN.1 DER-encoded (§6.5.5), which is node's default ECDSA output.
    const signed = Buffer.concat([authData, sha256(clientDataJSON)]);
    // badSignature: sign slightly different bytes, giving a well-formed signature that doesn't verify.
    if (tamper.badSignature) signed[signed.length - 1]! ^= 0x01;
    const signature = sign('sha256', signed, cred.privateKey);

    const userHandle = tamper.userHandle === undefined ? cred.userHandle : tamper.userHandle;
    return {
      id: cred.id,
      rawId: cred.id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(userHandle === null ? {} : { userHandle }),
      },
    };
  }

  /**
   * The client's RP ID check (§5.1.3 step 8 / §5.1.4.1 step 8): default to the configured RP ID,
   * and refuse one that isn't the origin's host or a parent domain of it (SecurityError).
   */
  #checkRpId(requested: string | undefined): string {
    const rpId = requested ?? this.#rpId;
    const host = new URL(this.#origin).hostname;
    if (host !== rpId && !host.endsWith(`.${rpId}`)) {
      throw new Error(`SecurityError: RP ID "${rpId}" is not valid for origin ${this.#origin}`);
    }
    return rpId;
  }

  /** CollectedClientData (§5.8.1), serialized as in §5.8.1.1 (type, challenge, origin, crossOrigin). */
  #clientData(type: string, challenge: string, tamper: Tamper): Buffer {
    return Buffer.from(
      JSON.stringify({
        type: tamper.type ?? type,
        challenge: tamper.challenge ?? challenge,
        origin: tamper.origin ?? this.#origin,
        crossOrigin: false,
      }),
      'utf8',
    );
  }

  /** Authenticator data (§6.1): rpIdHash(32) || flags(1) || signCount(4, BE) || attestedCredentialData. */
  #authData(rpId: string, counter: number, extraFlags: number, tamper: Tamper, attested?: Buffer): Buffer {
    const flags = ((tamper.userPresent ?? true) ? UP : 0) | ((tamper.userVerified ?? true) ? UV : 0) | BE | BS | extraFlags; // BE + BS: a backed-up (synced) passkey, §6.1.3
    const head = Buffer.alloc(37);
    sha256(tamper.rpId ?? rpId).copy(head, 0);
    head[32] = flags;
    head.writeUInt32BE(counter >>> 0, 33);
    return attested ? Buffer.concat([head, attested]) : head;
  }
}

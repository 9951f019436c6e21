import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import type { Config } from '../config.js';
import { invalidDpopProof } from './errors.js';
import type { ProofReplayCache } from './dpop-replay.js';
import { DPOP_SIGNING_ALGS } from '../provider/dpop-algorithms.js';

/**
 * How far a proof's `iat` may lie from our clock, either way, in seconds (RFC 9449 §11.1). No server nonce is asked
 * for (§8, §9): every accepted proof's jti is remembered by all replicas for longer than this window, so a proof is
 * good once and only for a minute; a nonce would add a refused round trip to every client's first call for little
 * more (it guards against proofs made in advance by an attacker who could sign then but not now).
 */
export const PROOF_WINDOW_SECONDS = 60;

/** A proof with an RSA-4096 key is under 3 KB; anything far larger is not worth parsing. */
const MAX_PROOF_LENGTH = 8192;

/** JWK members of a private or symmetric key (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** A proof whose signature and claims hold for this request and this access token. */
export interface CheckedProof {
  /** RFC 7638 thumbprint of the proof's key: what a bound token's `cnf.jkt` must equal. */
  thumbprint: string;
  jti: string;
}

/** What a proof is checked against: this request and the access token sent with it. */
export interface ProofRequest {
  /** Every `DPoP` header field of the request (RFC 9449 §4.3 item 1: there must be exactly one). */
  proofs: readonly string[] | undefined;
  method: string;
  /** The request's path as served; the expected `htu` is built from ISSUER, never from the Host header. */
  path: string;
  accessToken: string;
}

/**
 * RFC 9449 §7.1 at the resource API: `check` verifies a proof per §4.3 (stateless; throws invalid_dpop_proof), then
 * the caller matches its key to the token's `cnf.jkt`, and `consume` records its jti (§11.1) so it is good once.
 */
export class DpopProofs {
  constructor(
    private readonly config: Pick<Config, 'ISSUER'>,
    private readonly replay: ProofReplayCache,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  async check(request: ProofRequest): Promise<CheckedProof> {
    const { proofs } = request;
    if (!proofs?.length) throw invalidDpopProof('A DPoP-bound access token needs a DPoP proof in the DPoP header.');
    if (proofs.length > 1) throw invalidDpopProof('Send exactly one DPoP header.');
    const proof = proofs[0]!;
    if (proof.length > MAX_PROOF_LENGTH) throw invalidDpopProof('The DPoP proof is too large.');

    const header = protectedHeader(proof);
    // jose refuses a private key in `jwk` too; saying so plainly helps the developer who made that mistake.
    if (PRIVATE_MEMBERS.some((member) => member in header.jwk)) throw invalidDpopProof('The DPoP proof\'s "jwk" must be a public key.');

    let payload: Record<string, unknown>;
    try {
      // typ, an allowed asymmetric alg, a public key embedded as `jwk`, and the signature made with it (§4.3 items 4-7).
      ({ payload } = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: DPOP_SIGNING_ALGS }));
    } catch (cause) {
      throw invalidDpopProof(`The DPoP proof is not valid: ${reason(cause)}.`, cause);
    }

    const { jti, htm, htu, iat, ath } = payload;
    if (typeof jti !== 'string' || !jti || jti.length > 512) throw invalidDpopProof('The DPoP proof needs a "jti" string.');
    if (htm !== request.method) throw invalidDpopProof(`The DPoP proof's "htm" must be ${request.method}.`);
    if (typeof htu !== 'string' || !sameResource(htu, `${this.config.ISSUER}${request.path}`)) {
      throw invalidDpopProof(`The DPoP proof's "htu" must be ${this.config.ISSUER}${request.path}.`);
    }
    if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalidDpopProof('The DPoP proof needs an "iat" number.');
    if (Math.abs(this.now() - iat) > PROOF_WINDOW_SECONDS) {
      throw invalidDpopProof(
        `The DPoP proof's "iat" is more than ${PROOF_WINDOW_SECONDS} seconds from the server's time: make a new proof for each request.`,
      );
    }
    // §4.3 item 12: the proof is for this very token (base64url SHA-256 of its ASCII value).
    if (ath !== createHash('sha256').update(request.accessToken, 'ascii').digest('base64url')) {
      throw invalidDpopProof('The DPoP proof\'s "ath" must be the base64url SHA-256 hash of the access token.');
    }
    return { thumbprint: await calculateJwkThumbprint(header.jwk, 'sha256'), jti };
  }

  /** Records the proof as used (§11.1); a second use anywhere, within its window, is refused. */
  async consume(proof: CheckedProof): Promise<void> {
    // Remembered as long as its iat could still pass: iat is at most WINDOW ahead, and accepted WINDOW after that.
    if (!(await this.replay.firstUse(proof.thumbprint, proof.jti, 2 * PROOF_WINDOW_SECONDS + 1))) {
      throw invalidDpopProof('This DPoP proof was used before: make a new proof for each request.');
    }
  }
}

/** The protected header, parsed just far enough to look at `jwk` before any key is imported. */
function protectedHeader(proof: string): { jwk: JWK } {
  const [encoded] = proof.split('.', 1);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(encoded ?? '', 'base64url').toString('utf8'));
  } catch {
    throw invalidDpopProof('The DPoP proof is not a JWT.');
  }
  const jwk = (header as { jwk?: unknown } | null)?.jwk;
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk))
    throw invalidDpopProof('The DPoP proof needs its public key as "jwk" in its header.');
  return { jwk };
}

/** §4.3 item 9: `htu` names this request's URI, query and fragment aside, after URL normalisation (RFC 3986 §6.2). */
function sameResource(htu: string, expected: string): boolean {
  if (!URL.canParse(htu)) return false;
  const actual = new URL(htu);
  actual.search = '';
  actual.hash = '';
  return actual.href === new URL(expected).href;
}

/** jose's reason, which names the check that failed (typ, alg, signature) and never holds a secret. */
const reason = (error: unknown) => (error instanceof Error ? error.message.replace(/\.$/, '') : 'unreadable');

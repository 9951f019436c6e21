import { createHash } from 'node:crypto';

/**
 * How an attestation binds what this instance serves to its TDX quote (docs/architecture.md#tee-mode).
 *
 *   report_data = SHA-256( field(TAG) ‖ field(nonce) ‖ field(issuer) ‖ field(jwks_sha256) ‖ field(version) ) ‖ 32 zero bytes
 *   field(x)    = length of x as 4 bytes big-endian ‖ x
 *
 * TAG is the ASCII string below; nonce is the verifier's raw bytes (16–32); issuer and version are UTF-8; jwks_sha256
 * is the 32-byte SHA-256 of the canonical JSON of the served JWKS (see canonicalJson). The digest fills the first 32 of
 * the quote's 64 report_data bytes and the rest are zero, so a verifier recomputes it from the fields given in clear
 * and compares all 64 bytes. The length prefixes keep two different field lists from ever hashing the same bytes.
 */
export const REPORT_DATA_TAG = 'oauth3-attestation-v1';

export interface BoundFields {
  nonce: Buffer;
  issuer: string;
  jwksSha256: Buffer;
  version: string;
}

function field(bytes: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** The 64 bytes a quote carries in report_data for these fields. */
export function reportDataFor({ nonce, issuer, jwksSha256, version }: BoundFields): Buffer {
  const digest = createHash('sha256')
    .update(field(Buffer.from(REPORT_DATA_TAG, 'ascii')))
    .update(field(nonce))
    .update(field(Buffer.from(issuer, 'utf8')))
    .update(field(jwksSha256))
    .update(field(Buffer.from(version, 'utf8')))
    .digest();
  return Buffer.concat([digest, Buffer.alloc(32)]);
}

/**
 * JSON with object members sorted by name at every level and no whitespace: the same key set always gives the same
 * bytes, whatever order a server or a library wrote the members in.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

/** SHA-256 of a JWKS's canonical JSON, the value report_data binds. */
export function jwksDigest(jwks: { keys: unknown[] }): Buffer {
  return createHash('sha256').update(canonicalJson(jwks), 'utf8').digest();
}

/** A verifier's nonce: 16 to 32 bytes, written as hex. */
export const NONCE_HEX = /^(?:[0-9a-f]{2}){16,32}$/i;

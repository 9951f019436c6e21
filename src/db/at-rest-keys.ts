import { createHmac, createSecretKey, hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The keys values handed to clients are stored under (docs/threat-model.md J2): never the value itself, but its
 * SHA-256 digest in a domain of its own per kind, and, for a caller that found an entry by something else and never
 * held its value, a process-local handle that stands for that digest. The storage adapters (adapters/at-rest.ts) and
 * every table of ours that names such a value (browser sessions, interaction decisions, passkey challenges, device
 * polls) key on these.
 */

/**
 * The domain a model's values are hashed in. A client-credentials token shares the access token's: both are access
 * tokens presented as Bearer, and the resource API finds either kind with one digest in one statement
 * (src/resource/tokens.ts). migrations/009_digests_at_rest.sql computes the same.
 */
const domainOf = (model: string) => (model === 'ClientCredentials' ? 'AccessToken' : model);

/** base64url(SHA-256(domain ":" value)): `oauth3_digest(domain, value)` in SQL (migration 009). */
export const digestOf = (model: string, value: string): string => hash('sha256', `${domainOf(model)}:${value}`, 'base64url');

// --- Handles: stand-ins for an id the caller never had, valid in this process only and never stored.

const HANDLE_MARK = '~';
/**
 * Never leaves this process; a new process makes new handles from what it reads. A KeyObject: an HMAC under it takes
 * about 1.5 µs, under a Buffer key several times that.
 */
const handleKey = createSecretKey(randomBytes(32));
const handleTag = (kind: string, digest: string) =>
  createHmac('sha256', handleKey).update(`${kind}:${digest}`).digest('base64url').slice(0, 22);

/** A handle for the entry of `kind` stored under `digest`. oidc-provider's ids are base64url, never starting with `~`. */
export const handleOf = (kind: string, digest: string): string => `${HANDLE_MARK}${digest}.${handleTag(kind, digest)}`;

/** The digest a handle of this kind stands for; undefined for anything else (a presented value, a forged handle). */
export function openHandle(kind: string, value: string): string | undefined {
  if (!value.startsWith(HANDLE_MARK)) return undefined;
  const dot = value.lastIndexOf('.');
  const digest = value.slice(1, dot);
  const tag = Buffer.from(value.slice(dot + 1));
  const expected = Buffer.from(handleTag(kind, digest));
  return dot > 1 && tag.length === expected.length && timingSafeEqual(tag, expected) ? digest : undefined;
}

/** The key an entry of `model` is stored under, for a presented id or a handle. */
export const storageKey = (model: string, value: string): string => openHandle(model, value) ?? digestOf(model, value);

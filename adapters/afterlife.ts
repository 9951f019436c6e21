import type { Adapter, AdapterPayload } from 'oidc-provider';

/**
 * Keeps entries of a model stored `seconds` past their expiry. oidc-provider checks each token's own `exp`, so an
 * expired entry is never accepted; keeping it lets it answer with the right error instead of "not found": a device
 * polling after its code expired gets `expired_token` (RFC 8628 §3.5), and the owner is told the code has expired.
 * The result inherits from `adapter` (still an instance of its class); only `upsert` differs.
 */
export function withAfterlife<A extends Adapter>(adapter: A, seconds: number): A {
  const extended = Object.create(adapter) as A;
  extended.upsert = (id: string, payload: AdapterPayload, expiresIn?: number) =>
    adapter.upsert(id, payload, expiresIn === undefined ? undefined : expiresIn + seconds);
  return extended;
}

import type Provider from 'oidc-provider';
import instance from 'oidc-provider/lib/helpers/weak_cache.js';

/**
 * The public JWKS oidc-provider serves at its jwks_uri, read from the same place its own jwks action reads it, so that
 * what an attestation binds is byte for byte the key set a verifier fetches (src/tee/report-data.ts).
 */
export function servedJwks(provider: Provider): () => { keys: Array<Record<string, unknown>> } {
  return () => {
    const jwks = instance(provider)?.jwks;
    if (!jwks) throw new Error("oidc-provider's public JWKS is not where this version of oauth3 expects it");
    return { keys: jwks.keys };
  };
}

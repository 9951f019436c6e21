/**
 * oidc-provider's registry of a provider's internals (grant type handlers, the public JWKS). It has no public accessor;
 * src/provider/device-polling.ts wraps the device code grant's handler through it, and checks at start that it is there;
 * src/provider/served-jwks.ts reads the JWKS its jwks_uri serves.
 */
declare module 'oidc-provider/lib/helpers/weak_cache.js' {
  export default function instance(
    provider: object,
  ): { grantTypeHandlers?: Map<string, (ctx: unknown) => Promise<void>>; jwks?: { keys: Array<Record<string, unknown>> } } | undefined;
}

/**
 * The AsyncLocalStorage in which oidc-provider runs each request's code, holding that request's context (what
 * `Provider.ctx` returns). The tests run storage code "inside a request" through it (test/adapters/conformance.test.ts).
 */
declare module 'oidc-provider/lib/helpers/als.js' {
  const requestContext: import('node:async_hooks').AsyncLocalStorage<object>;
  export default requestContext;
}

/**
 * The body oidc-provider answers an error with: the error's own code and description when it is one of its exposed
 * errors, otherwise `server_error` with its fixed description. src/provider/stored-before-answered.ts answers a failed
 * token write with it, as oidc-provider answers any failure of its storage.
 */
declare module 'oidc-provider/lib/helpers/err_out.js' {
  export default function errOut(error: unknown, state?: string): { error: string; error_description?: string };
}

/**
 * Owners' own OAuth apps (docs/architecture.md#owners-own-oauth-apps) have ids starting with `own-`, which operator
 * and plugin ids may not, so an owner's provider never shadows the operator's nor another owner's route.
 */
export const OWN_PREFIX = 'own-';
export const isOwnProviderId = (id: string) => id.startsWith(OWN_PREFIX);

/**
 * The one scope for the proxied calls to all of an owner's own providers: the scope catalog stays the same for every
 * owner and every start, and a token holding it reaches only its own owner's providers.
 */
export const OWN_PROXY_SCOPE = 'upstream:own';

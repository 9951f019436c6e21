import { z } from 'zod';

/**
 * An upstream OAuth 2.0 provider owners can connect. X comes built in with its plugin; any other
 * (Dexcom, Oura, GitHub ...) is added by configuration alone (UPSTREAM_PROVIDERS / UPSTREAM_PROVIDERS_FILE).
 */
export const UpstreamProviderConfig = z.object({
  // One letter is allowed: X is `x` (the provider its plugin and connections name).
  id: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'lower-case letters, digits and dashes'),
  title: z.string().min(1).max(60).optional(),
  authorizationUrl: z.url({ protocol: /^https?$/ }),
  tokenUrl: z.url({ protocol: /^https?$/ }),
  /** Token revocation endpoint (RFC 7009), called when the owner disconnects. */
  revocationUrl: z.url({ protocol: /^https?$/ }).optional(),
  clientId: z.string().min(1),
  clientSecret: z.string().min(1).optional(),
  scopes: z.array(z.string().min(1)).default([]),
  usePkce: z.boolean().default(true),
  tokenAuthMethod: z.enum(['basic', 'post']).default('basic'),
  scopeSeparator: z.string().max(3).default(' '),
  extraParams: z.record(z.string(), z.string()).default({}),
  /** Base URL of the provider's API, for the generic proxied route `/api/upstream/<id>/...` (scope `upstream:<id>`). */
  apiBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Path prefixes under apiBaseUrl the proxied route may reach (threat model G3). */
  allowedPaths: z.array(z.string().startsWith('/')).default(['/']),
  /** A URL returning the connected user, and the JSON field to show the owner as the connection's label. */
  profileUrl: z.url({ protocol: /^https?$/ }).optional(),
  profileLabelField: z.string().min(1).optional(),
});
export type UpstreamProviderConfig = z.output<typeof UpstreamProviderConfig>;
export type UpstreamProviderInput = z.input<typeof UpstreamProviderConfig>;

/** How the generic client reaches a provider's endpoints: `fetch`'s shape, so a guarded fetch can stand in. */
export type UpstreamFetch = (input: string | URL, init: RequestInit) => Promise<Response>;

/**
 * A provider as the upstream client uses it. An owner's own provider (src/upstream/owner-providers.ts) names its
 * owner and brings the address-checked fetch every call to it must go through; the operator's and plugins' use
 * Node's fetch.
 */
export type UpstreamProvider = UpstreamProviderConfig & { ownerId?: string; fetch?: UpstreamFetch };

/** Finds a provider by id for one owner: the operator's and plugins' for everyone, an owner's own only for them. */
export type ProviderLookup = (id: string, accountId: string) => Promise<UpstreamProvider | undefined>;

import type { Context } from 'koa';
import { z } from 'zod';

/** What oidc-provider tells us about a pending interaction, parsed with zod rather than trusted. */
export const Details = z.object({
  uid: z.string(),
  prompt: z.object({
    name: z.enum(['login', 'consent']),
    details: z
      .object({
        missingOIDCScope: z.array(z.string()).optional(),
        missingOIDCClaims: z.array(z.string()).optional(),
        missingResourceScopes: z.record(z.string(), z.array(z.string())).optional(),
      })
      .loose(),
  }),
  params: z.object({ client_id: z.string(), redirect_uri: z.string().optional(), scope: z.string().optional() }).loose(),
  session: z.object({ accountId: z.string() }).loose().optional(),
  grantId: z.string().optional(),
  /** Set when a device asked (RFC 8628): there is no redirect URI, the tokens go to the polling device. */
  deviceCode: z.string().optional(),
});
export type Details = z.infer<typeof Details>;

/** The app behind an interaction, as the pages show it. */
export interface InteractionClient {
  clientId: string;
  clientName?: string;
  logoUri?: string;
  redirectUris: string[];
  grantTypes?: string[];
}

/** The pending interaction loaded by the `loadInteraction` stage (interactions/stages.ts). */
export const interactionOf = (ctx: Context): Details => ctx.state.interaction as Details;
/** Its client, loaded by the same stage. */
export const interactionClientOf = (ctx: Context): InteractionClient => ctx.state.client as InteractionClient;

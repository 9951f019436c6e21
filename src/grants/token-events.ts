import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Middleware } from 'koa';
import type { EventLog } from '../accounts/events.js';
import type { Logger } from '../logger.js';
import { AGENT_CLIENT_ID } from '../provider/first-party.js';
import { whenStored } from '../db/held-writes.js';
import type { AgentTokens } from './agent-tokens.js';

interface TokenLike {
  accountId?: string;
  grantId?: string;
  scope?: string;
  aud?: string | string[];
  exp?: number;
}

/** Grant types whose tokens are new to the grant; a refresh renews what the grant already had. */
const kindOf = (grantType: unknown) => (grantType === 'refresh_token' ? 'token.refreshed' : 'token.minted');

/**
 * Writes the owner's access log from oidc-provider's own events: every token minted or refreshed (which also
 * tells the console when an app last used its grant) and every grant oidc-provider revokes: a replayed code or
 * refresh token (`token.reused`, a security event), or the app's own revocation request (`grant.revoked`). Only names, scopes and times are kept: an opaque token's id is
 * its value, so no `jti` is ever written (threat model B8).
 */
export function recordTokenEvents(provider: Provider, events: EventLog): void {
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const { entities, params, client } = ctx.oidc;
    const token = (entities.AccessToken ?? entities.ClientCredentials) as TokenLike | undefined;
    const accountId = entities.Account?.accountId ?? token?.accountId;
    // The access log is the owner's; a machine token (client credentials) has no owner to show it to, and writing
    // a row per machine token would double the token endpoint's storage work.
    if (!accountId) return;
    // Once the token is stored: a token request's answer waits for its writes (src/db/held-writes.ts).
    whenStored(
      ctx,
      () =>
        void events.record({
          kind: kindOf(params?.grant_type),
          accountId,
          clientId: client?.clientId ?? null,
          grantId: token?.grantId ?? null,
          ip: ctx.ip,
          detail: {
            grant_type: typeof params?.grant_type === 'string' ? params.grant_type : '',
            scopes: token?.scope ? token.scope.split(' ') : [],
            ...(token?.aud ? { audience: token.aud } : {}),
            ...(token?.exp ? { expires_at: new Date(token.exp * 1000).toISOString() } : {}),
            refresh_token: Boolean(entities.RefreshToken),
          },
        }),
    );
  });

  provider.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
    const { entities, client, params } = ctx.oidc;
    const source = (entities.RefreshToken ?? entities.AuthorizationCode ?? entities.AccessToken ?? entities.DeviceCode) as
      TokenLike | undefined;
    const accountId = source?.accountId ?? (entities.Session as { accountId?: string } | undefined)?.accountId ?? null;
    // At the token endpoint oidc-provider revokes a grant for one reason only: a refresh token, code or device code
    // it had already spent came back (RFC 9700 §4.14.2). Someone else may hold a copy: the owner is told so in plain
    // words, apart from revocations the app or the owner asked for (threat model C7).
    if (ctx.oidc.route === 'token') {
      void events.record({
        kind: 'token.reused',
        outcome: 'security',
        accountId,
        clientId: client?.clientId ?? null,
        grantId,
        ip: ctx.ip,
        detail: { grant_type: typeof params?.grant_type === 'string' ? params.grant_type : '' },
      });
      return;
    }
    void events.record({
      kind: 'grant.revoked',
      accountId,
      clientId: client?.clientId ?? null,
      grantId,
      ip: ctx.ip,
      detail: { route: ctx.oidc.route },
    });
  });
}

/**
 * An agent token presented to a resource server, which introspected it and got `active: true`: that is the agent
 * using it, so the console's "last used" moves. Runs around oidc-provider's own introspection endpoint.
 */
export function recordAgentTokenUse(agentTokens: AgentTokens, logger: Logger): Middleware {
  return async (ctx, next) => {
    await next();
    const { oidc } = ctx as unknown as Partial<KoaContextWithOIDC>;
    const body = ctx.body as { active?: boolean; client_id?: string } | undefined;
    if (oidc?.route !== 'introspection' || body?.active !== true || body.client_id !== AGENT_CLIENT_ID) return;
    const grantId = (oidc.entities.AccessToken as TokenLike | undefined)?.grantId;
    // Bookkeeping only: a failed write must not turn the resource server's answer into an error.
    if (grantId) await agentTokens.touch(grantId).catch((err: unknown) => logger.warn({ err }, 'could not record agent token use'));
  };
}

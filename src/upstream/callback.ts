import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { AppError, toAppError } from '../errors.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { AccountStore } from '../accounts/accounts.js';
import type { EventLog } from '../accounts/events.js';
import type { ConnectionStore } from '../connections/store.js';
import { loadOwner, ownerOf } from '../accounts/owner-session.js';
import { errorPage } from '../web/error-page.js';
import type { AuthRequest, AuthRequests } from './auth-requests.js';
import type { ProviderLookup, UpstreamProvider } from './provider-config.js';
import { callbackUrl, DEFAULT_RETURN, safeReturnTo } from './connect.js';
import { callTokenEndpoint, GrantRevoked, secretOf, type TokenResponse } from './token-endpoint.js';
import { connectionLabel } from './profile.js';
import { providerTitle } from './providers.js';
import { createRouter } from '../http/router.js';

export interface CallbackDeps {
  config: Config;
  logger: Logger;
  accounts: AccountStore;
  events: EventLog;
  connections: ConnectionStore;
  requests: AuthRequests;
  provider: ProviderLookup;
}

/** The provider's redirect back (RFC 6749 §4.1.2): a code, or an error such as access_denied (§4.1.2.1). */
const CallbackQuery = z.object({
  state: z.string().min(1).max(200),
  code: z.string().min(1).max(2000).optional(),
  error: z.string().max(100).optional(),
});

interface CallbackState {
  query: z.output<typeof CallbackQuery>;
  request: AuthRequest;
  provider: UpstreamProvider;
  tokens: TokenResponse;
}

const stateOf = (ctx: Context) => ctx.state.upstreamConnect as Partial<CallbackState>;

const refused = (message: string) => new AppError('connect_failed', 400, message);
const START_AGAIN = 'Nothing was connected. Start again from Connected accounts in the console.';

/**
 * `GET /connections/callback`: where an upstream provider sends the owner back after they approve (or refuse)
 * oauth3. Each stage is one check, in the order RFC 6749 §4.1.2 and RFC 9700 §4.7 ask for; a refusal is a page.
 */
export function callbackRoutes(deps: CallbackDeps, oidc: Provider): Router {
  const router = createRouter();

  /** Every failure here is shown to a person in a browser, whatever their Accept header says. */
  async function showErrorsAsPage(ctx: Context, next: Next) {
    try {
      await next();
    } catch (caught) {
      const error = toAppError(caught);
      if (error.status >= 500) deps.logger.error({ err: caught, requestId: ctx.state.requestId }, 'upstream connect failed');
      else deps.logger.info({ code: error.code, requestId: ctx.state.requestId }, 'upstream connect refused');
      ctx.status = error.status;
      ctx.type = 'html';
      ctx.body = errorPage({
        title: 'The account was not connected',
        message: error.expose ? error.description : `Something went wrong on our side. ${START_AGAIN}`,
        requestId: ctx.state.requestId as string | undefined,
      });
    }
  }

  async function parseQuery(ctx: Context, next: Next) {
    const query = CallbackQuery.safeParse(ctx.query);
    if (!query.success) throw refused(`This link is not a complete answer from the provider. ${START_AGAIN}`);
    ctx.state.upstreamConnect = { query: query.data } satisfies Partial<CallbackState>;
    await next();
  }

  /** The state is single use and bound to the owner who started (RFC 9700 §4.7): taken once, whatever happens next. */
  async function takeRequest(ctx: Context, next: Next) {
    const state = stateOf(ctx);
    const request = await deps.requests.take(state.query!.state, ownerOf(ctx).accountId);
    if (!request) throw refused(`This connect link has expired, was already used, or was started by someone else. ${START_AGAIN}`);
    const provider = await deps.provider(request.provider, request.accountId);
    if (!provider) throw refused(`This provider is no longer configured. ${START_AGAIN}`);
    Object.assign(state, { request, provider });
    await next();
  }

  async function handleRefusal(ctx: Context, next: Next) {
    const { query, provider } = stateOf(ctx);
    if (query!.error === 'access_denied')
      throw new AppError('access_denied', 403, `You did not allow oauth3 to use your ${providerTitle(provider!)} account. ${START_AGAIN}`);
    if (query!.error)
      throw refused(`${providerTitle(provider!)} did not connect the account (${query!.error.replace(/[^\w.-]/g, '')}). ${START_AGAIN}`);
    if (!query!.code) throw refused(`${providerTitle(provider!)} sent no authorization code. ${START_AGAIN}`);
    await next();
  }

  async function exchangeCode(ctx: Context, next: Next) {
    const state = stateOf(ctx);
    const params: Record<string, string> = {
      grant_type: 'authorization_code',
      code: state.query!.code!,
      redirect_uri: callbackUrl(deps.config),
    };
    if (state.request!.verifier) params.code_verifier = state.request!.verifier;
    try {
      state.tokens = await callTokenEndpoint(state.provider!, params, deps.config.UPSTREAM_TIMEOUT_MS);
    } catch (error) {
      if (error instanceof GrantRevoked)
        throw refused(
          `${providerTitle(state.provider!)} did not accept the authorization (it expired or was already used). ${START_AGAIN}`,
        );
      throw error;
    }
    await next();
  }

  async function saveConnection(ctx: Context) {
    const { provider, tokens, request } = stateOf(ctx) as CallbackState;
    const owner = ownerOf(ctx);
    const { secret, expiresAt } = secretOf(tokens);
    const label = await connectionLabel(provider, tokens.access_token, deps.config.UPSTREAM_TIMEOUT_MS);
    const connection = await deps.connections.save(owner.accountId, {
      provider: provider.id,
      kind: 'oauth2',
      label,
      secret,
      meta: { ...(tokens.scope ? { scope: tokens.scope } : {}), refreshable: Boolean(tokens.refresh_token) },
      ...(expiresAt ? { expiresAt } : {}),
    });
    await deps.events.record({
      kind: 'connection.added',
      accountId: owner.accountId,
      ip: ctx.ip,
      detail: { provider: provider.id, kind: 'oauth2', label, connection_id: connection.id },
    });
    ctx.status = 303;
    ctx.redirect(safeReturnTo(request.returnTo) ?? DEFAULT_RETURN);
  }

  router.get(
    '/connections/callback',
    showErrorsAsPage,
    loadOwner(oidc, deps.accounts),
    parseQuery,
    takeRequest,
    handleRefusal,
    exchangeCode,
    saveConnection,
  );
  return router;
}

import type { Context } from 'koa';
import type Router from '@koa/router';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { ClientRecord, ClientStore } from '../clients/store.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { pathParam } from '../http/guard.js';
import { createRouter } from '../http/router.js';
import { PROVIDER_ROUTES } from '../provider/routes.js';
import { PLAYGROUND_PATH } from '../provider/first-party.js';

/** How long browsers and caches may keep an app's public information: a renamed app shows within minutes. */
export const APP_INFO_MAX_AGE = 300;

/** Client ids as the stores issue them (portal `c_…`, CLI and dynamic registration); anything else is not found. */
const ClientIdParam = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/);

export interface AppInfoDeps {
  config: Pick<Config, 'ISSUER'>;
  clients: Pick<ClientStore, 'find'>;
  scopes: ScopeCatalog;
}

/**
 * What anyone may know about an app: what the consent screen shows an owner (name, description, logo, home page, each
 * scope in plain words) and how to start its flows (the endpoints of this server's discovery). Nothing secret: no
 * secret or its digest, no owner, and not the redirect URIs (a list of an app's callbacks helps only a phisher); the
 * playground learns only whether its own address is one of them.
 */
export function appInfo(app: ClientRecord, deps: Omit<AppInfoDeps, 'clients'>) {
  const { ISSUER } = deps.config;
  const playground = `${ISSUER}${PLAYGROUND_PATH}`;
  return {
    client_id: app.clientId,
    name: app.name,
    description: app.description ?? null,
    logo_uri: app.logoUri ?? null,
    client_uri: app.homepage ?? null,
    kind: app.kind,
    token_endpoint_auth_method: app.public ? 'none' : 'client_secret_basic',
    grant_types: app.grantTypes,
    scopes: (app.scope?.split(' ').filter(Boolean) ?? []).map((name) => deps.scopes.describe(name)),
    issuer: ISSUER,
    discovery: `${ISSUER}/.well-known/oauth-authorization-server`,
    authorization_endpoint: `${ISSUER}${PROVIDER_ROUTES.authorization}`,
    device_authorization_endpoint: `${ISSUER}${PROVIDER_ROUTES.device_authorization}`,
    token_endpoint: `${ISSUER}${PROVIDER_ROUTES.token}`,
    playground: { redirect_uri: playground, registered: app.redirectUris.includes(playground) },
  };
}
export type AppInfo = ReturnType<typeof appInfo>;

/**
 * GET /developers/apps/:clientId/info: an app's public information as JSON, without signing in, for the playground and
 * for anyone who shows the app (any origin may read it: it holds nothing a browser's cookies would unlock). A
 * deactivated app is as unknown as one that never was. Cached for APP_INFO_MAX_AGE seconds.
 */
export function appInfoRoutes(deps: AppInfoDeps): Router {
  const router = createRouter();
  router.get('/developers/apps/:clientId/info', async function showAppInfo(ctx: Context) {
    const id = ClientIdParam.safeParse(pathParam(ctx, 'clientId'));
    const app = id.success ? await deps.clients.find(id.data) : undefined;
    ctx.set('Access-Control-Allow-Origin', '*');
    if (!app || app.disabledAt) {
      // Answered here, not thrown: the error boundary would drop the headers, and a miss must not be cached (the
      // app may be registered or reactivated a minute later).
      ctx.status = 404;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'not_found', error_description: 'No such app.' };
      return;
    }
    ctx.set('Cache-Control', `public, max-age=${APP_INFO_MAX_AGE}`);
    ctx.body = appInfo(app, deps);
  });
  return router;
}

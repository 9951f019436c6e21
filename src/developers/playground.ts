import Router from '@koa/router';
import type { Config } from '../config.js';
import type { PluginRegistry } from '../plugins/registry.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { playgroundPage } from './views/playground.js';
import { createRouter } from '../http/router.js';
import { PLAYGROUND_CLIENT_ID, PLAYGROUND_PATH } from '../provider/first-party.js';

/**
 * The developer playground: one page that walks a developer through the authorization code flow
 * with PKCE step by step, in their own browser (src/web/public/playground.js), showing every request and answer.
 */

export interface PlaygroundDeps {
  config: Pick<Config, 'ISSUER' | 'RESOURCE_URL'>;
  registry: PluginRegistry;
  scopes: ScopeCatalog;
}

export function playgroundRoutes({ config, registry, scopes }: PlaygroundDeps): Router {
  const router = createRouter();
  // The same page is the start and the redirect URI: the browser comes back here with ?code&state&iss.
  router.get(PLAYGROUND_PATH, async function showPlayground(ctx) {
    ctx.type = 'html';
    ctx.body = playgroundPage({
      issuer: config.ISSUER,
      resourceUrl: config.RESOURCE_URL,
      clientId: PLAYGROUND_CLIENT_ID,
      redirectUri: `${config.ISSUER}${PLAYGROUND_PATH}`,
      scopes: scopes.all(),
      calls: registry.apiCalls(),
    });
  });
  return router;
}

import Router from '@koa/router';
import type { ClientMetadata } from 'oidc-provider';
import type { Config } from '../config.js';
import type { PluginRegistry } from '../plugins/registry.js';
import { allScopes } from '../../scopes/catalog.js';
import { playgroundPage } from './views/playground.js';
import { createRouter } from '../http/router.js';

/**
 * The developer playground (issue 5, item 7): one page that walks a developer through the authorization code flow
 * with PKCE step by step, in their own browser (interactions/public/playground.js), showing every request and answer.
 */
export const PLAYGROUND_CLIENT_ID = 'oauth3-playground';
export const PLAYGROUND_PATH = '/developers/playground';

/**
 * The playground's own client, defined in code like the console's. It is harmless by construction: public (no
 * secret to steal), its only redirect URI is the playground page on this server (a code can land nowhere else, and
 * the page redeems only a code whose state it made), and it is not first-party, so the owner always sees the consent
 * screen. Its tokens are the owner's own and show up under Connected apps, where the owner can revoke them.
 */
export function playgroundClient(config: Pick<Config, 'ISSUER'>): ClientMetadata {
  return {
    client_id: PLAYGROUND_CLIENT_ID,
    client_name: 'oauth3 playground',
    redirect_uris: [`${config.ISSUER}${PLAYGROUND_PATH}`],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
}

export interface PlaygroundDeps {
  config: Pick<Config, 'ISSUER' | 'RESOURCE_URL'>;
  registry: PluginRegistry;
}

export function playgroundRoutes({ config, registry }: PlaygroundDeps): Router {
  const router = createRouter();
  // The same page is the start and the redirect URI: the browser comes back here with ?code&state&iss.
  router.get(PLAYGROUND_PATH, async function showPlayground(ctx) {
    ctx.type = 'html';
    ctx.body = playgroundPage({
      issuer: config.ISSUER,
      resourceUrl: config.RESOURCE_URL,
      clientId: PLAYGROUND_CLIENT_ID,
      redirectUri: `${config.ISSUER}${PLAYGROUND_PATH}`,
      scopes: allScopes(),
      calls: registry.apiCalls(),
    });
  });
  return router;
}

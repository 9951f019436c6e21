import type { Plugin } from '../plugin.js';
import { tweetPost } from './actions.js';
import { xCookieKind, xOAuthKind } from './credentials.js';
import { twitterErrors } from './errors.js';
import { xProvider } from './provider.js';
import { twitterRoutes } from './routes.js';
import { twitterScopes } from './scopes.js';
import { twitterDocs } from './docs.js';
import { twitterTools } from './tools.js';

/**
 * Twitter/X: an owner connects X by pasting the browser cookie or by X OAuth 2.0 with PKCE, and
 * apps post, delete and read with tweet.* scopes. Cookie calls go through X's web API, OAuth calls through
 * twitter-api-v2; every X address comes from the configuration (./settings.ts).
 */
export const twitterPlugin = {
  id: 'twitter',
  scopes: twitterScopes,
  credentialKinds: [xCookieKind, xOAuthKind],
  upstreamProviders: xProvider,
  actions: [tweetPost],
  errors: twitterErrors,
  routes: twitterRoutes,
  docs: twitterDocs,
  tools: twitterTools,
} satisfies Plugin;

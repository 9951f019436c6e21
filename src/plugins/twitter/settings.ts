import { z } from 'zod';
import type { Settings } from '../../setting.js';

const queryId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);
const baseUrl = (fallback: string) =>
  z
    .url({ protocol: /^https?$/ })
    .default(fallback)
    .transform((v) => v.replace(/\/+$/, ''));

/** Every X address is configurable, so tests run against a fake X on 127.0.0.1 (docs/architecture.md#plugins). */
export const twitterSettings = {
  X_API_URL: {
    schema: baseUrl('https://api.x.com'),
    doc: 'X API v2 base URL (OAuth-connected accounts post through it).',
    fix: 'use a URL such as https://api.x.com',
  },
  X_WEB_URL: {
    schema: baseUrl('https://x.com'),
    doc: 'X web app base URL (cookie-connected accounts post through its GraphQL API).',
    fix: 'use a URL such as https://x.com',
  },
  X_OAUTH_AUTHORIZE_URL: {
    schema: baseUrl('https://x.com/i/oauth2/authorize'),
    doc: 'X OAuth 2.0 authorization endpoint.',
    fix: 'use a URL such as https://x.com/i/oauth2/authorize',
  },
  X_OAUTH_TOKEN_URL: {
    schema: baseUrl('https://api.x.com/2/oauth2/token'),
    doc: 'X OAuth 2.0 token endpoint.',
    fix: 'use a URL such as https://api.x.com/2/oauth2/token',
  },
  X_CLIENT_ID: {
    schema: z.string().min(1).optional(),
    doc: 'Client id of your X developer app. Unset: owners can connect X only by pasting their cookie.',
    fix: 'copy the OAuth 2.0 client id from the X developer portal',
  },
  X_CLIENT_SECRET: {
    schema: z.string().min(1).optional(),
    doc: 'Client secret of your X developer app (confidential apps only).',
    fix: 'copy the OAuth 2.0 client secret from the X developer portal',
  },
  X_WEB_BEARER: {
    schema: z
      .string()
      .min(20)
      .default('AAAAAAAAAAAAAAAAAAAAANRILgAAAAAAnNwIzUejRCOuH5E6I8xnZz4puTs%3D1Zv7ttfk8LF81IUq16cHjhLTvJu4FA33AGWWjCpTnA'),
    doc: "The public bearer token of X's own web app, sent with cookie-authenticated calls (not a secret of yours).",
    fix: "use the bearer token X's web app sends",
  },
  X_WEB_QUERY_IDS: {
    schema: z
      .string()
      .transform((v, ctx) => {
        try {
          return JSON.parse(v) as unknown;
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
          return z.NEVER;
        }
      })
      .pipe(z.object({ CreateTweet: queryId, DeleteTweet: queryId, UserTweets: queryId }).partial().strict())
      .optional(),
    doc: 'Query ids of X\'s web GraphQL operations, as JSON (e.g. `{"CreateTweet":"..."}`), when X has rotated the built-in ones.',
    fix: 'use a JSON object with CreateTweet, DeleteTweet or UserTweets, each the id from x.com/i/api/graphql/<id>/<operation>',
  },
} satisfies Settings;

import http from 'node:http';
import { Socket } from 'node:net';
import type Provider from 'oidc-provider';
import type { Config } from '../src/config.js';
import { CODE_SCOPE, REFRESH_SCOPE, type Seed, type TargetSetup } from './protocol.js';

/**
 * What the OAuth scenarios need before the load, created through the provider's own models so that our server stores
 * them with its adapters (Postgres, Redis, PGlite) and the baseline in its memory, exactly as a real flow would have:
 * a signed-in session with an existing grant (authorization code, introspection), or one grant and refresh token per
 * load connection (refresh rotation). The owner account itself was created by prepareStorage.
 */
export async function seedFor(provider: Provider, config: Config, setup: TargetSetup): Promise<Seed> {
  switch (setup.scenario) {
    case 'authorization-code':
    case 'introspection':
      return { cookie: await signedInSession(provider, config, setup) };
    case 'refresh':
    case 'refresh-one-client':
      return { refreshTokens: await refreshChains(provider, config, setup, setup.connections + 1) };
    case 'discovery':
    case 'client-credentials':
    case 'workers':
    case 'resource':
    case 'mcp':
      return {};
  }
}

type Models = Provider & {
  Grant: new (p: { accountId: string; clientId: string }) => GrantModel;
  Session: new (p: object) => SessionModel;
};
interface GrantModel {
  addOIDCScope(scope: string): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
}
interface SessionModel {
  jti: string;
  loginAccount(details: { accountId: string; amr?: string[] }): void;
  grantIdFor(clientId: string, grantId: string): void;
  save(ttl: number): Promise<string>;
}

/**
 * The grant the owner gave the web app on the consent page, as interactions/consent.ts records it: the requested scopes
 * (oidc-provider counts every configured scope, tweet.read too, among the OIDC ones) plus tweet.read on our API.
 */
async function grant(provider: Models, config: Config, setup: TargetSetup, scope: string): Promise<string> {
  const g = new provider.Grant({ accountId: setup.fixtures.accountId, clientId: setup.fixtures.web.clientId });
  g.addOIDCScope(scope);
  g.addResourceScope(config.RESOURCE_URL, 'tweet.read');
  return g.save();
}

/** A browser session signed in with a passkey that already holds the web app's grant; returns its Cookie header. */
async function signedInSession(provider: Provider, config: Config, setup: TargetSetup): Promise<string> {
  const models = provider as Models;
  const grantId = await grant(models, config, setup, CODE_SCOPE);
  const session = new models.Session({});
  session.loginAccount({ accountId: setup.fixtures.accountId, amr: ['webauthn'] });
  session.grantIdFor(setup.fixtures.web.clientId, grantId);
  await session.save(config.SESSION_TTL);
  return signedCookie(provider, provider.cookieName('session'), session.jti);
}

/**
 * The cookie as the provider itself sets it, signed with its cookie keys (Koa's ctx.cookies on a request that never
 * reaches the network), as "name=value; name.sig=signature".
 */
function signedCookie(provider: Provider, name: string, value: string): string {
  const req = new http.IncomingMessage(new Socket());
  const res = new http.ServerResponse(req);
  const ctx = (
    provider as unknown as {
      createContext(req: http.IncomingMessage, res: http.ServerResponse): { cookies: { set(n: string, v: string, o: object): void } };
    }
  ).createContext(req, res);
  ctx.cookies.set(name, value, { signed: true, httpOnly: true, sameSite: 'lax' });
  const set = res.getHeader('set-cookie');
  const cookies = (Array.isArray(set) ? set : [String(set)]).map((c) => c.split(';')[0]!);
  if (cookies.length !== 2) throw new Error(`expected a cookie and its signature, got ${cookies.length} cookies`);
  return cookies.join('; ');
}

/**
 * `count` refresh tokens, each of its own grant (a reused token revokes its grant, so one chain's failure cannot end
 * another), with the fields oidc-provider gives one it issues at the code exchange (lib/helpers/grant_common.js).
 */
async function refreshChains(provider: Provider, config: Config, setup: TargetSetup, count: number): Promise<string[]> {
  const models = provider as Models & { RefreshToken: new (p: object) => { save(): Promise<string> } };
  const client = await provider.Client.find(setup.fixtures.web.clientId);
  if (!client) throw new Error('the bench web app is not registered');
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const grantId = await grant(models, config, setup, REFRESH_SCOPE);
    tokens.push(
      await new models.RefreshToken({
        accountId: setup.fixtures.accountId,
        authTime: Math.floor(Date.now() / 1000),
        amr: ['webauthn'],
        client,
        expiresWithSession: false,
        grantId,
        gty: 'authorization_code',
        resource: config.RESOURCE_URL,
        rotations: 0,
        scope: REFRESH_SCOPE,
      }).save(),
    );
  }
  return tokens;
}

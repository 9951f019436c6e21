import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as oidc from 'openid-client';
import { removeStorage, restartTestServer, startTestServer, storageOf, type KeptStorage, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TestBrowser, type AuthorizeOptions } from '../helpers/browser.js';
import { codeFlow } from '../helpers/code-flow.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

async function jwksKids(server: TestServer): Promise<string[]> {
  const { keys } = (await (await fetch(`${server.url}/jwks`)).json()) as { keys: { kid: string }[] };
  return keys.map((k) => k.kid).sort();
}

/**
 * H5: everything an owner and an app hold survives a restart of the server on the same storage: the refresh token,
 * the browser session, the grant, the passkey, the signing keys and the development master key.
 */
describe.each(backends())('a restart on %s storage', (backend) => {
  let first: TestServer;
  let second: TestServer | undefined;
  let storage: KeptStorage;
  let config: oidc.Configuration;
  let browser: TestBrowser;
  let sub: string;
  let refreshToken: string;
  let spentRefreshToken: string;
  let kidsBefore: string[];
  let masterKeyBefore: { content: string; ino: number; mtimeMs: number };

  async function authorizationCode(scope: string, options: AuthorizeOptions, extra: Record<string, string> = {}) {
    return codeFlow(config, browser, { redirect_uri: redirectUri, scope, ...extra }, options);
  }

  beforeAll(async () => {
    first = await startTestServer({ backend, keepStorage: true });
    storage = storageOf(first);
    expect(Boolean(storage.databaseUrl)).toBe(backend.startsWith('postgres'));

    const { clientId, clientSecret } = await first.addClient({ name: 'Restart app', redirectUris: [redirectUri] });
    config = await oidc.discovery(new URL(first.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    browser = new TestBrowser(first.url);
    const tokens = await authorizationCode(
      'openid offline_access tweet.post',
      { passkey: 'signup', consent: 'approve' },
      { prompt: 'consent' },
    );
    sub = tokens.claims()!.sub;
    // One rotation before the restart: the first refresh token is spent, the second is live.
    spentRefreshToken = tokens.refresh_token!;
    expect(spentRefreshToken).toEqual(expect.any(String));
    refreshToken = (await oidc.refreshTokenGrant(config, spentRefreshToken)).refresh_token!;
    expect(refreshToken).toEqual(expect.any(String));

    kidsBefore = await jwksKids(first);
    expect(kidsBefore).toHaveLength(2);
    const masterKeyFile = path.join(storage.dataDir, 'master.key');
    masterKeyBefore = {
      content: readFileSync(masterKeyFile, 'utf8'),
      ino: statSync(masterKeyFile).ino,
      mtimeMs: statSync(masterKeyFile).mtimeMs,
    };

    await first.stop();
    second = await restartTestServer(first, { backend });
    expect(second.url).toBe(first.url);
    config = await oidc.discovery(new URL(second.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
  });

  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await removeStorage(storage);
  });

  it('reused the master key file instead of generating a new one', () => {
    const file = path.join(storage.dataDir, 'master.key');
    expect(readFileSync(file, 'utf8')).toBe(masterKeyBefore.content);
    expect(statSync(file).ino).toBe(masterKeyBefore.ino);
    expect(statSync(file).mtimeMs).toBe(masterKeyBefore.mtimeMs);
  });

  it('publishes the same signing keys as before', async () => {
    expect(await jwksKids(second!)).toEqual(kidsBefore);
  });

  it('honours a refresh token issued before the restart, and rotates it', async () => {
    const refreshed = await oidc.refreshTokenGrant(config, refreshToken);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(refreshToken);
    expect(refreshed.claims()?.sub ?? sub).toBe(sub);
    const introspection = await oidc.tokenIntrospection(config, refreshed.access_token);
    expect(introspection).toMatchObject({ active: true, sub, aud: second!.config.RESOURCE_URL });
  });

  it('keeps the browser session and the grant: no passkey and no consent page', async () => {
    const tokens = await authorizationCode('openid tweet.post', { passkey: 'none', consent: 'none' });
    expect(tokens.claims()!.sub).toBe(sub);
  });

  it('signs the owner in again with the passkey registered before the restart', async () => {
    browser.clearCookies();
    const tokens = await authorizationCode('openid tweet.post', { passkey: 'signin', consent: 'none' });
    expect(tokens.claims()!.sub).toBe(sub);
    expect(sub).toBe(browser.authenticator.credentials[0]!.userHandle);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
  });

  // Last: a replayed refresh token revokes the whole grant (C1), which the tests above rely on.
  it('still refuses a refresh token that was rotated away before the restart', async () => {
    await expect(oidc.refreshTokenGrant(config, spentRefreshToken)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';
import { eventually } from '../helpers/console-api.js';
import { basic, redirectUri, type Client } from '../helpers/token-flow.js';
import type { LogEntry } from '../../src/accounts/access-log.js';

/**
 * A replayed refresh token is shown to the owner as a possible theft (docs/threat-model.md C7). oidc-provider revokes
 * the grant when a spent refresh token comes back (RFC 9700 §4.14.2), as it does when the app itself revokes it; the
 * owner's access log must not let the one pass for the other.
 */
describe.each(backends())('the access log after a replayed refresh token on %s storage (C7)', (backend) => {
  let server: TestServer;
  let owner: Owner;
  let app: Client;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    owner = await Owner.signUp(server);
    app = await server.addClient({ name: 'Photo Sync', redirectUris: [redirectUri] });
  });
  afterAll(() => server?.stop());

  const token = (body: Record<string, string>, path = '/token') =>
    fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { authorization: basic(app.clientId, app.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body),
    });
  const log = async () => ((await (await owner.api.get('/console/api/log?limit=100')).json()) as { events: LogEntry[] }).events;

  it('says a refresh token of the app was used twice, may have been stolen, and that oauth3 revoked its access', async () => {
    const { refreshToken } = await owner.appToken(app, 'openid offline_access');
    const rotated = await token({ grant_type: 'refresh_token', refresh_token: refreshToken! });
    expect(rotated.status).toBe(200);
    // The thief (or the app, replaying) presents the spent refresh token: oidc-provider revokes the grant.
    const replayed = await token({ grant_type: 'refresh_token', refresh_token: refreshToken! });
    expect(replayed.status).toBe(400);
    expect(((await replayed.json()) as { error: string }).error).toBe('invalid_grant');

    const events = await eventually(log, (list) => list.some((e) => e.kind === 'token.reused'));
    const theft = events.find((e) => e.kind === 'token.reused')!;
    expect(theft).toMatchObject({
      outcome: 'security',
      client_id: app.clientId,
      client_name: 'Photo Sync',
      detail: { grant_type: 'refresh_token' },
      summary: expect.stringContaining(
        "A refresh token of Photo Sync was used twice, so it may have been stolen; oauth3 revoked that app's access.",
      ),
    });
    expect(events.filter((e) => e.kind === 'grant.revoked')).toEqual([]);

    const page = await (await owner.browser.request('/console/log')).text();
    expect(page).toContain('Token used twice: access revoked (possible theft)');
    expect(page).toContain(
      'A refresh token of Photo Sync was used twice, so it may have been stolen; oauth3 revoked that app&#39;s access.',
    );
    expect(page).toContain('Security warning');
  });

  it('shows the app\'s own revocation as an ordinary "Access revoked", with no word of theft', async () => {
    const { refreshToken } = await owner.appToken(app, 'openid offline_access');
    const revoked = await token({ token: refreshToken! }, '/token/revocation');
    expect(revoked.status).toBe(200);
    const events = await eventually(log, (list) => list.some((e) => e.kind === 'grant.revoked'));
    const revocation = events.find((e) => e.kind === 'grant.revoked')!;
    expect(revocation).toMatchObject({ outcome: 'ok', client_id: app.clientId, detail: { route: 'revocation' } });
    expect(revocation.summary).toBeUndefined();
    expect(events.filter((e) => e.kind === 'token.reused')).toHaveLength(1);
  });
});

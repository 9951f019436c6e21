import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';
import { authorize } from '../helpers/browser.js';
import { redirectUri, type Client } from '../helpers/token-flow.js';
import type { Act, Delegation } from '../../src/grants/delegations.js';
import { delegate as delegateGrant, type ParentGrant } from '../helpers/delegations.js';
import type { LogEntry } from '../../src/accounts/access-log.js';
import { consentPage } from '../../interactions/views/consent.js';
import { TOKEN_EXCHANGE } from '../../interactions/stages.js';

interface DelegationJson {
  grant_id: string;
  parent_grant_id: string;
  depth: number;
  client_id: string;
  name: string;
  scopes: string[];
  audience: string;
  created_at: string;
  expires_at: string;
  delegations: DelegationJson[];
}

interface AppJson {
  grant_id: string;
  client_id: string;
  name: string;
  delegations: DelegationJson[];
}

/**
 * Connected apps with the tokens an app handed on by token exchange (docs/architecture.md#token-exchange): the tree
 * under the app, revoking one branch from the console, another owner seeing nothing, the access log's words for a
 * call made by a helper, and the consent screen's line for an app that may hand access on.
 *
 * The exchanged grants are made here the way the token endpoint makes them: a Grant of the helper's client for the
 * owner, an access token under it, and the grant_delegations row naming the grant it came from.
 */
describe.each(backends())('delegated tokens in the console on %s storage', (backend) => {
  let server: TestServer;
  let owner: Owner;
  let stranger: Owner;
  let newsroom: Client;
  let summariser: string;
  let checker: string;
  let app: AppJson;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    newsroom = await server.addClient({ name: 'Newsroom', redirectUris: [redirectUri] });
    summariser = (await server.addClient({ name: 'Summariser', grantTypes: ['client_credentials'] })).clientId;
    checker = (await server.addClient({ name: 'Fact <i>checker</i>', grantTypes: ['client_credentials'] })).clientId;
    owner = await Owner.signUp(server);
    stranger = await Owner.signUp(server);
    await owner.appToken(newsroom, 'tweet.read tweet.post');
    app = (await appsOf(owner))[0]!;
  });
  afterAll(() => server?.stop());

  async function appsOf(who: Owner): Promise<AppJson[]> {
    const res = await who.api.get('/console/api/apps');
    expect(res.status).toBe(200);
    return ((await res.json()) as { apps: AppJson[] }).apps;
  }

  const delegate = (parent: ParentGrant, clientId: string, scopes: string[], act: Act) =>
    delegateGrant(server, owner.accountId, parent, clientId, scopes, act);

  const grantExists = async (grantId: string) => Boolean(await server.app.provider.Grant.find(grantId));
  const tokenExists = async (token: string) => Boolean(await server.app.provider.AccessToken.find(token));

  describe('a tree of two levels under the app', () => {
    let child: { row: Delegation; token: string };
    let grandchild: { row: Delegation; token: string };

    beforeAll(async () => {
      const root = { grantId: app.grant_id, clientId: newsroom.clientId };
      child = await delegate(root, summariser, ['tweet.read'], { sub: summariser, client_id: summariser });
      grandchild = await delegate({ grantId: child.row.grantId, clientId: summariser, row: child.row }, checker, ['tweet.read'], {
        sub: checker,
        client_id: checker,
        act: { sub: summariser, client_id: summariser },
      });
    });

    it('lists the tokens nested under the app, never as apps of their own', async () => {
      const apps = await appsOf(owner);
      expect(apps.map((a) => a.name)).toEqual(['Newsroom']);
      expect(apps[0]!.delegations).toEqual([
        {
          grant_id: child.row.grantId,
          parent_grant_id: app.grant_id,
          depth: 1,
          client_id: summariser,
          name: 'Summariser',
          scopes: ['tweet.read'],
          audience: server.config.RESOURCE_URL,
          created_at: expect.any(String),
          expires_at: child.row.expiresAt.toISOString(),
          delegations: [
            expect.objectContaining({
              grant_id: grandchild.row.grantId,
              parent_grant_id: child.row.grantId,
              depth: 2,
              client_id: checker,
              name: 'Fact <i>checker</i>',
              delegations: [],
            }),
          ],
        },
      ]);
    });

    it('shows the tree on the page: who, what in words, until when, the level, and a Revoke for each', async () => {
      const page = await (await owner.browser.request('/console/apps')).text();
      const tree = page.slice(page.indexOf('delegations-row'));
      expect(tree).toContain('<strong>Summariser</strong>');
      expect(tree).toContain('Fact &lt;i&gt;checker&lt;/i&gt;');
      expect(tree).not.toContain('<i>checker');
      expect(tree).toContain('Read your posts on X');
      expect(tree).toContain('Helper, level 1');
      expect(tree).toContain('Helper, level 2');
      expect(tree).toContain(`datetime="${child.row.expiresAt.toISOString()}"`);
      expect(tree).toContain(`action="/console/apps/${child.row.grantId}/revoke"`);
      expect(tree).toContain(`action="/console/apps/${grandchild.row.grantId}/revoke"`);
      // The app keeps its own Revoke, which takes the whole tree along.
      expect(page).toContain(`action="/console/apps/${app.grant_id}/revoke"`);
    });

    it("refuses limits of a helper's own: it shares the app's", async () => {
      const res = await owner.api.send('PUT', `/console/api/apps/${child.row.grantId}/policy`, { posts_per_day: 1 });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('shares the limits of the app');
      const { rows } = await server.db.query('SELECT 1 FROM grant_policies WHERE grant_id = $1', [child.row.grantId]);
      expect(rows).toEqual([]);
    });

    it('shows another owner nothing, and answers their revoke of a delegated grant with 404, leaving it working', async () => {
      expect(await appsOf(stranger)).toEqual([]);
      const viaApi = await stranger.api.send('DELETE', `/console/api/apps/${grandchild.row.grantId}`);
      expect(viaApi.status).toBe(404);
      expect(await viaApi.text()).not.toContain('checker');
      const viaForm = await stranger.browser.postForm(`/console/apps/${grandchild.row.grantId}/revoke`, { csrf: stranger.csrf });
      expect(viaForm.status).toBe(404);
      expect(await grantExists(grandchild.row.grantId)).toBe(true);
      expect(await tokenExists(grandchild.token)).toBe(true);
    });

    it('revokes a helper from the API: its grant and token are gone, the app and the helper above it stay', async () => {
      const res = await owner.api.send('DELETE', `/console/api/apps/${grandchild.row.grantId}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ revoked: true });
      expect(await grantExists(grandchild.row.grantId)).toBe(false);
      expect(await tokenExists(grandchild.token)).toBe(false);

      expect(await grantExists(child.row.grantId)).toBe(true);
      expect(await tokenExists(child.token)).toBe(true);
      const [newsroomApp, ...others] = await appsOf(owner);
      expect(others).toEqual([]);
      expect(newsroomApp!.delegations).toEqual([expect.objectContaining({ grant_id: child.row.grantId, delegations: [] })]);
      const { rows } = await server.db.query<{ kind: string; client_id: string }>(
        `SELECT kind, client_id FROM events WHERE account_id = $1 AND grant_id = $2`,
        [owner.accountId, grandchild.row.grantId],
      );
      expect(rows).toEqual([{ kind: 'app.revoked', client_id: checker }]);
    });

    it('revokes a helper from the page with a notice, leaving the app', async () => {
      const res = await owner.browser.postForm(`/console/apps/${child.row.grantId}/revoke`, { csrf: owner.csrf });
      expect(res.status).toBe(303);
      expect(await grantExists(child.row.grantId)).toBe(false);
      expect(await tokenExists(child.token)).toBe(false);
      const apps = await appsOf(owner);
      expect(apps).toEqual([expect.objectContaining({ grant_id: app.grant_id, delegations: [] })]);
      const page = await (await owner.browser.request(res.headers.get('location')!)).text();
      expect(page).toContain('Access revoked.');
      expect(page).not.toContain('delegations-row');
    });
  });

  describe('the access log', () => {
    async function logged(detail: Record<string, unknown>, grantId: string, clientId: string): Promise<LogEntry> {
      await server.app.events.record({ kind: 'api.call', accountId: owner.accountId, clientId, grantId, ip: '203.0.113.7', detail });
      const res = await owner.api.get('/console/api/log?kind=api.call&limit=1');
      expect(res.status).toBe(200);
      return ((await res.json()) as { events: LogEntry[] }).events[0]!;
    }

    it('says which helper made a call on whose behalf, by their registered names', async () => {
      const root = { grantId: app.grant_id, clientId: newsroom.clientId };
      const { row } = await delegate(root, summariser, ['tweet.post'], { sub: summariser, client_id: summariser });
      const act = { sub: summariser, client_id: summariser, act: { sub: newsroom.clientId, client_id: newsroom.clientId } };
      const entry = await logged({ method: 'POST', path: '/2/tweets', scope: 'tweet.post', status: 201, act }, row.grantId, summariser);
      expect(entry.summary).toBe('Post by sub-agent Summariser on behalf of agent Newsroom');

      const page = await (await owner.browser.request('/console/log')).text();
      expect(page).toContain('Post by sub-agent Summariser on behalf of agent Newsroom');
      // The chain reads as words, not as raw JSON beside them.
      expect(page).not.toContain('&quot;client_id&quot;');
    });

    it('names every level of a deeper chain, and finds the app at the root when the chain stops short of it', async () => {
      const root = { grantId: app.grant_id, clientId: newsroom.clientId };
      const first = await delegate(root, summariser, ['tweet.read'], { sub: summariser, client_id: summariser });
      const second = await delegate({ grantId: first.row.grantId, clientId: summariser, row: first.row }, checker, ['tweet.read'], {
        sub: checker,
        client_id: checker,
        act: { sub: summariser, client_id: summariser },
      });
      const entry = await logged(
        { method: 'GET', path: '/2/users/me', scope: 'tweet.read', status: 200, act: second.row.act },
        second.row.grantId,
        checker,
      );
      expect(entry.summary).toBe('Read by sub-agent Fact <i>checker</i> on behalf of sub-agent Summariser on behalf of agent Newsroom');
      const page = await (await owner.browser.request('/console/log')).text();
      expect(page).toContain('Read by sub-agent Fact &lt;i&gt;checker&lt;/i&gt; on behalf of');
    });

    it('falls back to the client id for an actor it does not know, and leaves ordinary calls alone', async () => {
      const act = { sub: 'c_gone', client_id: 'c_gone', act: { sub: newsroom.clientId, client_id: newsroom.clientId } };
      const entry = await logged({ method: 'DELETE', path: '/2/tweets/:id', status: 200, act }, 'no-such-grant', 'c_gone');
      expect(entry.summary).toBe('Delete by sub-agent c_gone on behalf of agent Newsroom');

      const plain = await logged({ method: 'POST', path: '/2/tweets', status: 201 }, app.grant_id, newsroom.clientId);
      expect(plain.summary).toBeUndefined();
      const malformed = await logged(
        { method: 'POST', path: '/2/tweets', status: 201, act: 'Summariser' },
        app.grant_id,
        newsroom.clientId,
      );
      expect(malformed.summary).toBeUndefined();
    });
  });

  describe('the consent screen', () => {
    /** Where the browser stops on the consent page of `client` for this owner (already signed in). */
    async function consentPageOf(client: Client): Promise<string> {
      const query = new URLSearchParams({
        client_id: client.clientId,
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: 'tweet.read',
        state: randomBytes(8).toString('hex'),
        code_challenge: createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url'),
        code_challenge_method: 'S256',
        prompt: 'consent',
      });
      const stoppedAt = await authorize(owner.browser, `${server.url}/auth?${query}`, { passkey: 'none', consent: 'none' });
      expect(stoppedAt).toMatch(/\/interaction\//);
      return (await owner.browser.request(stoppedAt)).text();
    }

    const line = 'may hand narrower access to its own helpers';

    it('tells the owner that an app registered for token exchange may hand narrower access on', async () => {
      const { provider } = server.app;
      const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as {
        grant_types_supported: string[];
      };
      // Until the token endpoint serves the grant, a stand-in that refuses it lets a client be registered for it.
      if (!discovery.grant_types_supported.includes(TOKEN_EXCHANGE)) {
        provider.registerGrantType(TOKEN_EXCHANGE, (ctx) => {
          ctx.status = 400;
          ctx.body = { error: 'unsupported_grant_type' };
        });
      }
      const briefing = await server.addClient({ name: 'Briefing', redirectUris: [redirectUri] });
      await server.db.query(`UPDATE clients SET metadata = jsonb_set(metadata, '{grant_types}', $2::jsonb) WHERE client_id = $1`, [
        briefing.clientId,
        JSON.stringify(['authorization_code', 'refresh_token', TOKEN_EXCHANGE]),
      ]);
      const page = await consentPageOf(briefing);
      expect(page).toContain(`Briefing ${line}`);
      expect(page).toMatch(/never more than what you\s+approve here, and revoking Briefing revokes them too/);
    });

    it('says nothing of the kind for an app that cannot exchange tokens', async () => {
      expect(await consentPageOf(newsroom)).not.toContain(line);
    });
  });
});

describe('the consent view', () => {
  it('escapes the app name in the token exchange line', () => {
    const page = consentPage({
      uid: 'u',
      csrf: 'c',
      client: { name: '<b>Bold</b>', redirectHost: 'app.example', clientId: 'c_1', exchanges: true },
      scopes: [],
      account: { label: 'account 1' },
      lifetime: '1 hour',
    });
    expect(page).toContain('&lt;b&gt;Bold&lt;/b&gt; may hand narrower access to its own helpers');
    expect(page).not.toContain('<b>Bold</b>');
  });
});

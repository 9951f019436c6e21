import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner } from '../helpers/owner.js';
import { redirectUri } from '../helpers/token-flow.js';

/** Every `<time>` element of a page, with its attributes and text. */
const timesIn = (page: string) =>
  [...page.matchAll(/<time datetime="([^"]+)"(?: title="([^"]*)")?(?: data-time="(relative|absolute)")?>([^<]*)<\/time>/g)].map(
    ([, datetime, title, style, text]) => ({ datetime: datetime!, title, style, text: text! }),
  );

/** What a page shows once its `<time>` elements are taken out: no date or clock time may be left in it. */
const outsideTimes = (page: string) => page.replace(/<time [^>]*>[^<]*<\/time>/g, '');

/**
 * No console or developer portal page writes a moment as absolute UTC text for the owner to convert: each is a
 * `<time datetime>` that /static/kit.js shows in the browser's own zone and words (a UTC day, which is not a moment, is
 * a `<time>` too, in words). Every page is filled first, so its tables and sentences with times are there.
 */
describe('times on the console and developer portal pages', () => {
  let server: TestServer;
  let owner: Owner;
  let clientId: string;

  beforeAll(async () => {
    server = await startTestServer();
    owner = await Owner.signUp(server);
    expect((await owner.api.send('POST', '/console/api/tokens', { name: 'Reader', scopes: ['tweet.read'] })).status).toBe(201);
    const agent = await owner.api.send('POST', '/console/api/agents', { name: 'Digest', scopes: ['tweet.read'] });
    expect(agent.status).toBe(201);
    const agentId = ((await agent.json()) as { client_id: string }).client_id;
    await server.db.query(
      `INSERT INTO connections (id, account_id, provider, kind, label, status, sealed, last_error, last_used_at)
       VALUES ('con_times_x', $1, 'x', 'x.cookie', '@ada', 'needs_relink', 'not-a-real-seal', 'cookie expired', now() - interval '2 hours'),
              ('con_times_t', $1, 'telegram', 'telegram.bot', 'Ada bot', 'active', 'not-a-real-seal', NULL, NULL)`,
      [owner.accountId],
    );
    // A warning for the overview, API calls for the chart, a daily limit reached, and a held post decided and one waiting.
    await server.db.query(
      `INSERT INTO events (account_id, client_id, kind, outcome, detail) VALUES
         ($1, NULL, 'token.reused', 'security', '{"grant_type":"refresh_token"}'),
         ($1, $2, 'api.call', 'ok', '{"scope":"tweet.read","path":"/x/timeline"}'),
         ($1, $2, 'limit.daily_reached', 'ok', $3)`,
      [owner.accountId, agentId, JSON.stringify({ limit: 5, day: new Date().toISOString().slice(0, 10) })],
    );
    await server.db.query(
      `INSERT INTO held_actions (id, account_id, grant_id, client_id, action, payload, summary, status, decided_at)
       VALUES ('held_times_1', $1, 'grant-x', $2, 'tweet.post', '{}', 'Post: hello', 'rejected', now()),
              ('held_times_2', $1, 'grant-x', $2, 'tweet.post', '{}', 'Post: hello again', 'pending', NULL)`,
      [owner.accountId, agentId],
    );
    // A portal app whose secret was rotated with a grace period: two secrets, one with an end.
    const app = await owner.api.send('POST', '/developers/api/apps', {
      kind: 'web',
      name: 'Timed app',
      redirect_uris: [redirectUri],
      scopes: ['openid'],
    });
    clientId = ((await app.json()) as { client_id: string }).client_id;
    expect((await owner.api.send('POST', `/developers/api/apps/${clientId}/secrets`, { grace: '1h' })).status).toBe(201);
  });
  afterAll(() => server?.stop());

  it.each([
    ['/console', 3],
    ['/console/connections', 3],
    ['/console/apps', 1],
    ['/console/tokens', 2],
    ['/console/agents', 1],
    ['/console/sessions', 2],
    ['/console/passkeys', 1],
    ['/console/log', 4],
    ['/console/approvals', 2],
    ['/console/profile', 0],
    ['/console/account', 1],
    ['/console/telegram', 0],
    ['/console/mcp', 0],
    ['/developers', 1],
    ['/developers/apps/:app', 4],
  ])('%s writes every moment as <time datetime>, and no date or clock time outside one', async (path, atLeast) => {
    const res = await owner.browser.request(path.replace(':app', clientId));
    expect(res.status).toBe(200);
    const page = await res.text();
    const times = timesIn(page);
    expect(times.length).toBeGreaterThanOrEqual(atLeast);
    expect(page.match(/<time /g)?.length ?? 0).toBe(times.length);
    for (const t of times) {
      if (t.style) {
        // A moment: exact ISO in the attribute, the UTC text (for a browser without JavaScript) also on hover.
        expect(new Date(t.datetime).toISOString()).toBe(t.datetime);
        expect(t.text).toMatch(/^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC$/);
        expect(t.title).toBe(t.text);
      } else {
        // A UTC day, in words.
        expect(t.datetime).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        expect(t.text).toMatch(/^\d{1,2} [A-Z][a-z]{2} \d{4}$/);
      }
    }
    const rest = outsideTimes(page);
    expect(rest).not.toMatch(/\b\d{4}-\d{2}-\d{2}\b/);
    expect(rest).not.toMatch(/\b\d{1,2}:\d{2}\b/);
  });

  it('loads /static/kit.js on the portal as on the console, so their times read alike', async () => {
    for (const path of ['/console/connections', '/developers']) {
      const page = await (await owner.browser.request(path)).text();
      expect(page).toMatch(/<script type="module" src="\/static\/(kit|console)\.js"><\/script>/);
    }
    expect(await (await owner.browser.request('/developers')).text()).toContain('<script type="module" src="/static/kit.js"></script>');
    const console = await (await owner.browser.request('/static/console.js')).text();
    expect(console).toContain("import './kit.js';");
    const kit = await owner.browser.request('/static/kit.js');
    expect(kit.status).toBe(200);
    expect(kit.headers.get('content-type')).toMatch(/^text\/javascript/);
  });

  it('says the chart and the daily limit count UTC days', async () => {
    const log = await (await owner.browser.request('/console/log')).text();
    expect(log).toContain('Days run from midnight to midnight UTC.');
    expect(log).toMatch(/reached on \d{1,2} [A-Z][a-z]{2} \d{4} \(UTC\)\./);
    expect(log).toMatch(/aria-label="API calls: 1 from \d{1,2} [A-Z][a-z]{2} \d{4} to \d{1,2} [A-Z][a-z]{2} \d{4} \(UTC days\)/);
  });
});

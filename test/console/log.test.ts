import { Owner } from '../helpers/owner.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import * as oidc from 'openid-client';
import { TestBrowser } from '../helpers/browser.js';
import { eventually } from '../helpers/console-api.js';
import { csvCell } from '../../src/console/views/log-export.js';
import type { LogEntry } from '../../src/accounts/access-log.js';
import { codeFlow } from '../helpers/code-flow.js';

type Entry = LogEntry;

/** A day's start in UTC plus a minute, `daysAgo` days back, as SQL; the chart counts by UTC day. */
const dayAt = (daysAgo: number) =>
  `(now() AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC' - interval '${daysAgo} days' + interval '1 minute'`;
const utcDay = (daysAgo: number) => new Date(Date.now() - daysAgo * 86_400_000).toISOString().slice(0, 10);

describe('console access log', () => {
  let server: TestServer;
  let acme: string;
  let tricky: string;

  beforeAll(async () => {
    server = await startTestServer();
    acme = (await server.addClient({ name: 'Acme Agent', redirectUris: ['https://acme.example/cb'] })).clientId;
    tricky = (
      await server.addClient({ name: '=HYPERLINK("https://evil.example","click"), "quoted"', redirectUris: ['https://tricky.example/cb'] })
    ).clientId;
  });
  afterAll(() => server?.stop());

  /** Writes events straight into the table, as the rest of the system (and later the resource server) will. */
  async function insert(
    accountId: string,
    events: Array<{ kind: string; client?: string; outcome?: string; detail?: object; ip?: string; daysAgo?: number }>,
  ) {
    for (const e of events) {
      await server.db.query(
        `INSERT INTO events (account_id, client_id, kind, outcome, detail, ip, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, ${e.daysAgo === undefined ? 'now()' : dayAt(e.daysAgo)})`,
        [accountId, e.client ?? null, e.kind, e.outcome ?? 'ok', JSON.stringify(e.detail ?? {}), e.ip ?? '203.0.113.9'],
      );
    }
  }

  async function readLog(owner: Owner, query = ''): Promise<{ events: Entry[]; next_before: number | null }> {
    const res = await owner.api.get(`/console/api/log${query}`);
    expect(res.status).toBe(200);
    return res.json() as Promise<{ events: Entry[]; next_before: number | null }>;
  }

  it('lists the sign-up and a later sign-in, newest first, with the IP address', async () => {
    const first = await Owner.signIn(server);
    const again = await Owner.signIn(server, new TestBrowser(server.url, first.browser.authenticator));
    expect(again.accountId).toBe(first.accountId);
    const { events } = await readLog(again);
    expect(events.map((e) => e.kind)).toEqual(['signin', 'account.created']);
    expect(events[0]).toMatchObject({ outcome: 'ok', client_id: null, ip: expect.any(String), at: expect.any(String) });
    expect(Date.parse(events[0]!.at)).toBeGreaterThanOrEqual(Date.parse(events[1]!.at));
  });

  it('records consent and every token minted or refreshed for a real app, under its name and scopes', async () => {
    const redirectUri = 'http://127.0.0.1:8765/callback';
    const { clientId, clientSecret } = await server.addClient({ name: 'Log Test App', redirectUris: [redirectUri] });
    const config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const browser = new TestBrowser(server.url);
    const tokens = await codeFlow(config, browser, {
      redirect_uri: redirectUri,
      scope: 'openid offline_access tweet.post',
      prompt: 'consent',
    });
    await oidc.refreshTokenGrant(config, tokens.refresh_token!);

    const owner = await Owner.signIn(server, browser);
    const appEvents = await eventually(
      () => readLog(owner, `?client_id=${clientId}`),
      (page) => page.events.length >= 3,
    );
    expect(appEvents.events.map((e) => e.kind)).toEqual(['token.refreshed', 'token.minted', 'consent.granted']);
    for (const e of appEvents.events)
      expect(e).toMatchObject({ client_name: 'Log Test App', scope: expect.stringContaining('tweet.post') });
    expect(JSON.stringify(appEvents)).not.toContain(tokens.access_token);
    expect(JSON.stringify(appEvents)).not.toContain(tokens.refresh_token!);

    const chart = (await (await owner.api.get('/console/api/log/chart?days=1')).json()) as { counting: string; counts: unknown[] };
    expect(chart).toMatchObject({
      counting: 'app events',
      counts: [{ day: utcDay(0), client_id: clientId, client_name: 'Log Test App', count: 3 }],
    });
    const page = await (await owner.browser.request('/console/log')).text();
    for (const label of ['Account created', 'Consent given', 'Token issued', 'Token refreshed']) expect(page).toContain(label);
  });

  it('filters by kind and by app, and shows the app name and scope', async () => {
    const owner = await Owner.signIn(server);
    await insert(owner.accountId, [
      { kind: 'consent.granted', client: acme, detail: { scopes: ['openid', 'twitter:read'] } },
      { kind: 'api.call', client: acme, detail: { scope: 'twitter:read', path: '/x/timeline' } },
      { kind: 'api.call', client: tricky, outcome: 'failure', detail: { scope: 'twitter:write' } },
    ]);
    const calls = await readLog(owner, '?kind=api.call');
    expect(calls.events.map((e) => e.client_id)).toEqual([tricky, acme]);
    expect(calls.events[1]).toMatchObject({ client_name: 'Acme Agent', scope: 'twitter:read' });

    const acmeOnly = await readLog(owner, `?client_id=${acme}`);
    expect(acmeOnly.events.map((e) => e.kind)).toEqual(['api.call', 'consent.granted']);
    expect(acmeOnly.events[1]).toMatchObject({ scope: 'openid twitter:read' });

    const both = await readLog(owner, `?client_id=${acme}&kind=consent.granted`);
    expect(both.events).toHaveLength(1);
    expect((await readLog(owner, '?kind=no.such.kind')).events).toEqual([]);
  });

  it('pages newest first with limit and before, without gaps or repeats', async () => {
    const owner = await Owner.signIn(server);
    await insert(
      owner.accountId,
      Array.from({ length: 120 }, (_, i) => ({ kind: 'api.call', client: acme, detail: { n: i } })),
    );
    const seen: Entry[] = [];
    let before: number | null = null;
    let pages = 0;
    do {
      const page = await readLog(owner, `?limit=50${before ? `&before=${before}` : ''}`);
      expect(page.events.length).toBeLessThanOrEqual(50);
      seen.push(...page.events);
      before = page.next_before;
      pages++;
    } while (before !== null);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(121); // 120 calls and the sign-up
    expect(new Set(seen.map((e) => e.id)).size).toBe(121);
    expect(seen.map((e) => e.id)).toEqual([...seen.map((e) => e.id)].sort((a, b) => b - a));
    expect(seen.at(-1)!.kind).toBe('account.created');

    const defaults = await readLog(owner);
    expect(defaults.events).toHaveLength(50);
    expect((await readLog(owner, '?limit=200')).events).toHaveLength(121);
    const tail = await readLog(owner, `?limit=200&before=${seen[119]!.id}`);
    expect(tail).toEqual({ events: [seen[120]], next_before: null });
  });

  describe('with two owners', () => {
    let alice: Owner;
    let bob: Owner;
    let bobsIds: number[];

    beforeAll(async () => {
      alice = await Owner.signIn(server);
      bob = await Owner.signIn(server);
      await insert(alice.accountId, [
        { kind: 'api.call', client: acme, daysAgo: 0, detail: { scope: 'twitter:read' } },
        { kind: 'api.call', client: acme, daysAgo: 0, detail: { scope: 'twitter:read' } },
        { kind: 'api.call', client: acme, daysAgo: 0, detail: { scope: 'twitter:read' } },
        { kind: 'api.call', client: acme, daysAgo: 2, detail: { scope: 'twitter:read' } },
        { kind: 'api.call', client: acme, daysAgo: 2, detail: { scope: 'twitter:read' } },
        { kind: 'api.call', client: tricky, daysAgo: 2, detail: { scope: '+cmd|calc', note: 'a, "quoted"\nline' }, ip: '-1+1' },
        { kind: 'api.call', client: acme, daysAgo: 40 },
        { kind: 'consent.granted', client: acme, daysAgo: 1 },
      ]);
      await insert(bob.accountId, [
        { kind: 'api.call', client: acme, daysAgo: 0, detail: { secret: 'bobs-private-detail' } },
        { kind: 'api.call', client: tricky, daysAgo: 1, detail: { secret: 'bobs-private-detail' } },
        { kind: 'bob.only.kind', client: acme, daysAgo: 0 },
      ]);
      bobsIds = (await server.db.query<{ id: string | number }>('SELECT id FROM events WHERE account_id = $1', [bob.accountId])).rows.map(
        (r) => Number(r.id),
      );
    });

    it("never shows another owner's events in the log, with or without filters", async () => {
      for (const query of ['', '?limit=200', `?client_id=${acme}&limit=200`, '?kind=api.call&limit=200', '?kind=bob.only.kind']) {
        const { events } = await readLog(alice, query);
        expect(events.some((e) => bobsIds.includes(e.id))).toBe(false);
        expect(JSON.stringify(events)).not.toContain('bobs-private-detail');
      }
      expect((await readLog(alice, '?kind=bob.only.kind')).events).toEqual([]);
    });

    it("answers 404 for another owner's event id as a cursor", async () => {
      const res = await alice.api.get(`/console/api/log?before=${bobsIds[0]}`);
      expect(res.status).toBe(404);
      expect(JSON.stringify(await res.json())).not.toContain('bobs-private-detail');
      expect((await alice.api.get('/console/api/log?before=999999999')).status).toBe(404);
    });

    it("counts API calls per UTC day per app for the chart, and only the owner's", async () => {
      const res = await alice.api.get('/console/api/log/chart');
      expect(res.status).toBe(200);
      const chart = (await res.json()) as { counting: string; days: number; from: string; to: string; counts: unknown[] };
      expect(chart).toMatchObject({ counting: 'api.call', days: 30, to: utcDay(0), from: utcDay(29) });
      expect(chart.counts).toHaveLength(3);
      expect(chart.counts).toEqual(
        expect.arrayContaining([
          { day: utcDay(2), client_id: acme, client_name: 'Acme Agent', count: 2 },
          { day: utcDay(2), client_id: tricky, client_name: expect.stringContaining('HYPERLINK'), count: 1 },
          { day: utcDay(0), client_id: acme, client_name: 'Acme Agent', count: 3 },
        ]),
      );
      const days = (chart.counts as Array<{ day: string }>).map((c) => c.day);
      expect(days).toEqual([...days].sort()); // oldest day first
      const today = (await (await alice.api.get('/console/api/log/chart?days=1')).json()) as { counts: unknown[] };
      expect(today.counts).toEqual([{ day: utcDay(0), client_id: acme, client_name: 'Acme Agent', count: 3 }]);
      const quarter = (await (await alice.api.get('/console/api/log/chart?days=90')).json()) as { counts: Array<{ count: number }> };
      expect(quarter.counts.reduce((sum, c) => sum + c.count, 0)).toBe(7);
    });

    it('charts every event that names an app while no API calls are logged, and says so', async () => {
      const carol = await Owner.signIn(server);
      await insert(carol.accountId, [
        { kind: 'consent.granted', client: acme },
        { kind: 'consent.denied', client: tricky },
      ]);
      const chart = (await (await carol.api.get('/console/api/log/chart?days=7')).json()) as {
        counting: string;
        counts: Array<{ client_id: string; count: number }>;
      };
      expect(chart.counting).toBe('app events');
      expect(chart.counts.map((c) => [c.client_id, c.count]).sort()).toEqual(
        [
          [acme, 1],
          [tricky, 1],
        ].sort(),
      );
    });

    it('exports CSV with a header row, RFC 4180 quoting and spreadsheet formulas defused', async () => {
      const res = await alice.api.get('/console/api/log/export?format=csv');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="oauth3-access-log-\d{4}-\d{2}-\d{2}\.csv"$/);
      const csv = await res.text();
      const lines = csv.split('\r\n');
      expect(lines[0]).toBe('id,at,kind,outcome,client_id,client_name,scope,ip,detail');
      expect(csv).not.toContain('bobs-private-detail');
      // The tricky app's name and scope start with = and +; the IP with -; each is prefixed with ' and quoted where needed.
      expect(csv).toContain(`"'=HYPERLINK(""https://evil.example"",""click""), ""quoted"""`);
      expect(csv).toContain(",'+cmd|calc,'-1+1,");
      expect(csv).toContain('"{""note"":""a, \\""quoted\\""\\nline"",""scope"":""+cmd|calc""}"');
      expect(csv).not.toMatch(/(^|,)[=+\-@]/m);
      // 8 inserted events and the sign-up, plus the header and the final empty line.
      expect(lines).toHaveLength(11);
    });

    it('exports JSON with the same filters as the log', async () => {
      const res = await alice.api.get(`/console/api/log/export?format=json&client_id=${acme}&kind=api.call`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename=".*\.json"$/);
      const exported = (await res.json()) as Entry[];
      expect(exported).toHaveLength(6);
      expect(exported).toEqual((await readLog(alice, `?client_id=${acme}&kind=api.call&limit=200`)).events);
      const all = await (await alice.api.get('/console/api/log/export?format=json')).text();
      expect(all).not.toContain('bobs-private-detail');
    });

    it('shows the chart, the filters and readable events on the page, with no inline script or style', async () => {
      const res = await alice.browser.request('/console/log');
      expect(res.status).toBe(200);
      const page = await res.text();
      expect(page).toMatch(/<svg class="chart-svg"[^>]*role="img"[^>]*aria-label="API calls: 6 from [^"]*Acme Agent: 5/);
      expect(page).toContain('<rect class="series-');
      expect(page).toMatch(/<ul class="chart-legend"[^>]*>[\s\S]*Acme Agent/);
      expect(page).toContain('The numbers behind the chart');
      expect(page).toContain('<label for="log-app">App</label>');
      expect(page).toContain('<label for="log-kind">Event</label>');
      expect(page).toContain(`<option value="${acme}">Acme Agent</option>`);
      expect(page).toContain('Consent given');
      expect(page).toContain('Account created');
      expect(page).toContain('API call');
      expect(page).toContain('href="/console/api/log/export?format=csv"');
      expect(page).not.toContain('bobs-private-detail');
      expect(page).not.toContain('bob.only.kind');
      expect(page).not.toContain('=HYPERLINK("'); // the app name is escaped in HTML
      expect(page).not.toMatch(/\sstyle=/);
      expect(page).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
      expect(page).not.toMatch(/\son[a-z]+=/);
    });

    it('pages the HTML log with an Older link and keeps the filters in it', async () => {
      await insert(
        alice.accountId,
        Array.from({ length: 55 }, () => ({ kind: 'api.call', client: acme })),
      );
      const first = await (await alice.browser.request(`/console/log?kind=api.call&client_id=${acme}`)).text();
      const older = /<a rel="next" href="([^"]+)">Older events<\/a>/.exec(first)?.[1]?.replace(/&amp;/g, '&');
      expect(older).toMatch(new RegExp(`^/console/log\\?client_id=${acme}&kind=api\\.call&before=\\d+$`));
      const second = await (await alice.browser.request(older!)).text();
      expect(second).toContain('Newest events');
      expect(second).not.toContain('Older events');
      expect(second).toContain(' selected>API call</option>');
    });
  });

  it('quotes CSV cells with separators, quotes or line breaks, and defuses every formula prefix', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell(null)).toBe('');
    for (const formula of ['=1+1', '+1', '-1', '@SUM(A1)', '\t=1', '\r=1']) expect(csvCell(formula)).toMatch(/^"?'/);
    expect(csvCell('=cmd,"x"')).toBe(`"'=cmd,""x"""`);
  });

  it.each([
    '/console/api/log?limit=0',
    '/console/api/log?limit=abc',
    '/console/api/log?limit=201',
    '/console/api/log?limit=1.5',
    '/console/api/log?limit=-1',
    '/console/api/log?limit=1&limit=2',
    '/console/api/log?before=abc',
    `/console/api/log?kind=${'k'.repeat(65)}`,
    '/console/api/log/chart?days=1000',
    '/console/api/log/chart?days=0',
    '/console/api/log/chart?days=ten',
    '/console/api/log/export?format=xml',
  ])('refuses a bad query %s with 400', async (path) => {
    const owner = await Owner.signIn(server);
    const res = await owner.api.get(path);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
  });

  it.each(['/console/api/log', '/console/api/log/export?format=csv', '/console/api/log/export?format=json', '/console/api/log/chart'])(
    'answers %s with 401 and no data without a session',
    async (path) => {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'unauthorized', error_description: expect.any(String) });
    },
  );

  it('sends a signed-out browser from the log page to sign in', async () => {
    const res = await fetch(`${server.url}/console/log`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/console/login?return=%2Fconsole%2Flog');
  });
});

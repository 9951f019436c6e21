import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner } from '../helpers/owner.js';
import { displayAddress } from '../../src/http/client-address.js';

/**
 * The console's pages in words an owner reads: times as `<time datetime>` with a labelled UTC fallback, addresses
 * without the IPv4-mapped `::ffff:` prefix, log details as sentences (the raw fields only under "Technical details"),
 * a line after every action, and a created secret shown once after a redirect, bound to the browser session.
 */
describe('the console in plain words', () => {
  let server: TestServer;
  let owner: Owner;
  let stranger: Owner;

  const page = async (who: Owner, path: string) => (await who.browser.request(path)).text();

  async function insert(accountId: string, kind: string, detail: object, ip = '::ffff:203.0.113.9', outcome = 'ok') {
    await server.db.query('INSERT INTO events (account_id, kind, outcome, detail, ip) VALUES ($1, $2, $3, $4, $5)', [
      accountId,
      kind,
      outcome,
      JSON.stringify(detail),
      ip,
    ]);
  }

  beforeAll(async () => {
    server = await startTestServer();
    owner = await Owner.signUp(server);
    stranger = await Owner.signUp(server);
  });
  afterAll(() => server?.stop());

  it('shows an IPv4 client as its IPv4 address, and leaves IPv6 and plain IPv4 alone', () => {
    expect(displayAddress('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(displayAddress('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(displayAddress('198.51.100.7')).toBe('198.51.100.7');
    expect(displayAddress('2001:db8::1')).toBe('2001:db8::1');
    expect(displayAddress('::ffff:2001:db8::1')).toBe('::ffff:2001:db8::1');
    expect(displayAddress(null)).toBeNull();
  });

  it('shows sessions and the access log without ::ffff:, on the pages and in the API', async () => {
    await server.db.query("UPDATE browser_sessions SET ip = '::ffff:198.51.100.7' WHERE account_id = $1", [owner.accountId]);
    const sessions = await page(owner, '/console/sessions');
    expect(sessions).toContain('198.51.100.7');
    expect(sessions).not.toContain('::ffff:');
    const listed = (await (await owner.api.get('/console/api/sessions')).json()) as { sessions: { ip: string }[] };
    expect(listed.sessions.map((s) => s.ip)).toContain('198.51.100.7');

    await insert(owner.accountId, 'passkey.renamed', { from: 'Passkey', to: 'Work laptop' });
    const log = await page(owner, '/console/log');
    expect(log).toContain('203.0.113.9');
    expect(log).not.toContain('::ffff:');
    const { events } = (await (await owner.api.get('/console/api/log')).json()) as { events: { ip: string }[] };
    expect(events.map((e) => e.ip)).not.toContainEqual(expect.stringContaining('::ffff:'));
  });

  it('renders every time as <time datetime> with the UTC time as its labelled text', async () => {
    const sessions = await page(owner, '/console/sessions');
    const times = [...sessions.matchAll(/<time datetime="([^"]+)" title="([^"]+)" data-time="relative">([^<]+)<\/time>/g)];
    expect(times.length).toBeGreaterThanOrEqual(2);
    for (const [, iso, title, text] of times) {
      expect(new Date(iso!).toISOString()).toBe(iso);
      expect(text).toMatch(/^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC$/);
      expect(title).toBe(text);
      // The text is the same moment, to the minute.
      expect(Math.abs(Date.parse(text!.replace(' UTC', 'Z').replace(',', '')) - Date.parse(iso!))).toBeLessThan(60_000);
    }
    // Inside a sentence a time is absolute: the account page says when the account was created.
    expect(await page(owner, '/console/account')).toMatch(/created on <time datetime="[^"]+" title="[^"]+" data-time="absolute">/);
  });

  it('writes each log event as a sentence, with the other fields only under Technical details', async () => {
    await insert(owner.accountId, 'api.call', {
      scope: 'tweet.post',
      method: 'MCP',
      path: 'tools/call tweet_post',
      tool: 'tweet_post',
      status: 200,
      latency_ms: 6.2,
    });
    await insert(
      owner.accountId,
      'api.call',
      { scope: 'tweet.post', method: 'POST', path: '/tweet', status: 403, error: 'limit_reached' },
      '::ffff:203.0.113.9',
      'failure',
    );
    await insert(owner.accountId, 'session.signed_out_others', { ended: 3 });
    await insert(owner.accountId, 'profile.updated', { fields: ['email', 'phone'] });
    await insert(owner.accountId, 'something.new', { colour: 'blue' });
    const log = await page(owner, '/console/log');
    expect(log).toContain('Tool tweet_post with tweet.post: done.');
    expect(log).toContain('POST /tweet with tweet.post: refused (limit reached).');
    expect(log).toContain('3 other browsers signed out.');
    expect(log).toContain('Changed: email, phone.');
    expect(log).toContain('From “Passkey” to “Work laptop”.');
    // No "latency_ms: 6.2" dump: the field is there for the curious, folded away.
    expect(log).not.toMatch(/latency_ms: /);
    expect(log).toMatch(
      /<details class="technical"><summary>Technical details<\/summary><dl><dt>latency_ms<\/dt><dd>6.2<\/dd><\/dl><\/details>/,
    );
    expect(log).toMatch(/<dt>colour<\/dt><dd>blue<\/dd>/);
  });

  it('says what happened after every action, on the page the action returns to', async () => {
    const home = await (await fetch(`${server.url}/?done=deleted`)).text();
    expect(home).toContain('Your account and everything in it was deleted.');
    expect(await (await fetch(`${server.url}/?done=signed-out`)).text()).toContain('You are signed out.');
    expect(await (await fetch(`${server.url}/`)).text()).not.toContain('page-notice');
    for (const [path, text] of [
      ['/console/passkeys?done=added', 'Passkey added.'],
      ['/console/passkeys?done=renamed', 'Passkey renamed.'],
      ['/console/passkeys?done=removed', 'Passkey removed.'],
      ['/console/sessions?done=signed-out', 'That browser is signed out.'],
      ['/console/apps?done=revoked', 'Access revoked.'],
      ['/console/apps?done=revoked-all', 'Everything revoked.'],
      ['/console/tokens?done=revoked', 'Token revoked.'],
      ['/console/agents?done=revoked', 'Agent revoked.'],
      ['/console/connections?done=disconnected', 'Account disconnected.'],
    ] as const) {
      expect(await page(owner, path)).toContain(text);
    }
  });

  it("keeps a created secret for its own browser session only: another session's copy of the cookie shows nothing", async () => {
    const minted = await owner.browser.postForm('/console/tokens', { csrf: owner.csrf, name: 'Shown once', 'scope:tweet.read': 'on' });
    expect(minted.status).toBe(303);
    const location = minted.headers.get('location')!;
    // Never in a URL.
    expect(location).toBe('/console/tokens?done=minted');
    const line = minted.headers.getSetCookie().find((c) => c.startsWith('oauth3_console_once='))!;
    expect(line).toMatch(/path=\/console\/tokens/i);
    expect(line).toMatch(/httponly/i);
    expect(line).toMatch(/samesite=strict/i);

    // The same cookie in another owner's browser opens nothing there.
    (stranger.browser as unknown as { store(line: string, target: URL): void }).store(line, new URL(location, server.url));
    const elsewhere = await page(stranger, location);
    expect(elsewhere).not.toContain('id="new-token-value"');
    expect(elsewhere).toContain('This token was shown once');

    // The owner's own browser shows it, once.
    const shown = await page(owner, location);
    expect(shown).toMatch(/id="new-token-value"[^>]*value="[^"]+"/);
    expect(shown).toContain('data-copy="new-token-value"');
    expect(await page(owner, location)).not.toContain('id="new-token-value"');
  });
});

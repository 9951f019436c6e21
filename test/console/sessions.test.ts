import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TestBrowser } from '../helpers/browser.js';
import { signInToConsole } from '../helpers/console.js';
import { consoleApi, eventually, type ConsoleApi } from '../helpers/console-api.js';
import { deviceName } from '../../src/web/device.js';

interface SessionJson {
  uid: string;
  device: string;
  ip: string | null;
  created_at: string;
  last_seen_at: string;
  current: boolean;
}

interface Browser {
  browser: TestBrowser;
  csrf: string;
  api: ConsoleApi;
}

/** A new owner's browser, or (given `sameOwnerAs`) a second browser of an existing owner signing in with its passkey. */
async function signedIn(server: TestServer, sameOwnerAs?: Browser): Promise<Browser> {
  const browser = new TestBrowser(server.url, sameOwnerAs?.browser.authenticator);
  const { csrf } = await signInToConsole(browser, sameOwnerAs ? 'signin' : 'signup');
  return { browser, csrf, api: consoleApi(browser, csrf) };
}

async function sessionsOf(b: Browser, expected?: number): Promise<SessionJson[]> {
  // The tracker records sessions in the background; wait for it when a count is expected.
  return eventually(
    async () => {
      const res = await b.api.get('/console/api/sessions');
      expect(res.status).toBe(200);
      return ((await res.json()) as { sessions: SessionJson[] }).sessions;
    },
    (list) => expected === undefined || list.length === expected,
  );
}

const alive = async (b: Browser) => (await b.browser.request('/console/api/session')).status === 200;

describe('device names', () => {
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36', 'Chrome on Linux'],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
      'Safari on iPhone',
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0',
      'Edge on Windows',
    ],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0', 'Firefox on macOS'],
    [
      'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
      'Chrome on Android',
    ],
    ['curl/8.5.0', 'Unknown device'],
    [null, 'Unknown device'],
  ])('names %s as %s', (ua, name) => {
    expect(deviceName(ua)).toBe(name);
  });
});

describe.each(backends())('console sessions on %s storage', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend });
  });
  afterAll(() => server?.stop());

  it('lists every signed-in browser of the owner, marks this one, and names the device', async () => {
    const laptop = await signedIn(server);
    const phone = await signedIn(server, laptop);
    const stranger = await signedIn(server);
    const list = await sessionsOf(laptop, 2);
    expect(list).toHaveLength(2);
    expect(list.filter((s) => s.current)).toHaveLength(1);
    for (const s of list) {
      expect(s).toEqual({
        uid: expect.any(String),
        device: expect.any(String),
        ip: expect.any(String),
        created_at: expect.any(String),
        last_seen_at: expect.any(String),
        current: expect.any(Boolean),
      });
    }
    const strangers = await sessionsOf(stranger, 1);
    expect(list.map((s) => s.uid)).not.toContain(strangers[0]!.uid);

    const phoneUid = (await sessionsOf(phone, 2)).find((s) => s.current)!.uid;
    await server.db.query('UPDATE browser_sessions SET user_agent = $2 WHERE uid = $1', [
      phoneUid,
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
    ]);
    expect((await sessionsOf(laptop)).find((s) => s.uid === phoneUid)!.device).toBe('Chrome on Linux');
  });

  it('signs out one other browser: its API answers 401 and the event is logged', async () => {
    const laptop = await signedIn(server);
    const phone = await signedIn(server, laptop);
    const phoneUid = (await sessionsOf(phone, 2)).find((s) => s.current)!.uid;
    const res = await laptop.api.send('DELETE', `/console/api/sessions/${phoneUid}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ signed_out: true });
    expect(await alive(phone)).toBe(false);
    expect(await alive(laptop)).toBe(true);
    expect((await sessionsOf(laptop)).map((s) => s.uid)).not.toContain(phoneUid);
    const events = await server.db.query("SELECT 1 FROM events WHERE kind = 'session.signed_out'");
    expect(events.rowCount).toBeGreaterThan(0);
  });

  it('signs out everywhere else: keeps this session, ends the others', async () => {
    const laptop = await signedIn(server);
    const phone = await signedIn(server, laptop);
    const tablet = await signedIn(server, laptop);
    await sessionsOf(laptop, 3);
    const res = await laptop.api.send('POST', '/console/api/sessions/sign-out-others', {});
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ signed_out: 2 });
    expect(await alive(laptop)).toBe(true);
    expect(await alive(phone)).toBe(false);
    expect(await alive(tablet)).toBe(false);
    expect((await sessionsOf(laptop)).map((s) => s.current)).toEqual([true]);
  });

  it('offers the same actions as forms on the page', async () => {
    const laptop = await signedIn(server);
    const phone = await signedIn(server, laptop);
    const tablet = await signedIn(server, laptop);
    const list = await sessionsOf(laptop, 3);
    const page = await (await laptop.browser.request('/console/sessions')).text();
    expect(page).toContain('This browser');
    expect(page).toContain('action="/console/sessions/sign-out-others"');
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)|\sstyle=/);

    const phoneUid = (await sessionsOf(phone)).find((s) => s.current)!.uid;
    expect(page).toContain(`action="/console/sessions/${phoneUid}/sign-out"`);
    const one = await laptop.browser.postForm(`/console/sessions/${phoneUid}/sign-out`, { csrf: laptop.csrf });
    expect(one.status).toBe(303);
    expect(one.headers.get('location')).toBe('/console/sessions?done=signed-out');
    expect(await alive(phone)).toBe(false);

    const all = await laptop.browser.postForm('/console/sessions/sign-out-others', { csrf: laptop.csrf });
    expect(all.status).toBe(303);
    expect(all.headers.get('location')).toBe('/console/sessions?done=signed-out-others');
    expect(await alive(tablet)).toBe(false);
    expect(await alive(laptop)).toBe(true);
    expect(await (await laptop.browser.request('/console/sessions?done=signed-out-others')).text()).toContain(
      'Every other browser is signed out.',
    );
    expect(list).toHaveLength(3);
  });

  it("answers 404 for another owner's session or a malformed uid, and leaves it signed in", async () => {
    const alice = await signedIn(server);
    const bob = await signedIn(server);
    const bobsUid = (await sessionsOf(bob, 1))[0]!.uid;
    for (const res of [
      await alice.api.send('DELETE', `/console/api/sessions/${bobsUid}`),
      await alice.browser.postForm(`/console/sessions/${bobsUid}/sign-out`, { csrf: alice.csrf }),
      await alice.api.send('DELETE', `/console/api/sessions/${'a'.repeat(200)}`),
      await alice.api.send('DELETE', '/console/api/sessions/no%20such'),
    ]) {
      expect(res.status).toBe(404);
    }
    await alice.api.send('POST', '/console/api/sessions/sign-out-others', {});
    expect(await alive(bob)).toBe(true);
    expect(await sessionsOf(bob)).toHaveLength(1);
  });

  it('answers 401 without a session and 403 without CSRF protection', async () => {
    const owner = await signedIn(server);
    const other = await signedIn(server, owner);
    const otherUid = (await sessionsOf(other, 2)).find((s) => s.current)!.uid;
    const stranger = consoleApi(new TestBrowser(server.url), owner.csrf);
    expect((await stranger.get('/console/api/sessions')).status).toBe(401);
    expect((await stranger.send('DELETE', `/console/api/sessions/${otherUid}`)).status).toBe(401);
    expect((await stranger.send('POST', '/console/api/sessions/sign-out-others', {})).status).toBe(401);

    const mutations = [
      ['DELETE', `/console/api/sessions/${otherUid}`, undefined],
      ['POST', '/console/api/sessions/sign-out-others', {}],
    ] as const;
    for (const [method, path, body] of mutations) {
      expect((await owner.api.send(method, path, body, { csrf: null })).status).toBe(403);
      expect((await owner.api.send(method, path, body, { csrf: other.csrf })).status).toBe(403);
      expect((await owner.api.send(method, path, body, { origin: 'https://evil.example' })).status).toBe(403);
    }
    expect((await owner.browser.postForm('/console/sessions/sign-out-others', {})).status).toBe(403);
    expect(
      (await owner.browser.postForm(`/console/sessions/${otherUid}/sign-out`, { csrf: owner.csrf }, { origin: 'https://evil.example' }))
        .status,
    ).toBe(403);
    expect(await alive(other)).toBe(true);
  });
});

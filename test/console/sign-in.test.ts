import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestBrowser } from '../helpers/browser.js';
import { signInToConsole } from '../helpers/console.js';

describe('console sign-in', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it('sends a signed-out owner through the passkey page and back to the page they asked for', async () => {
    const browser = new TestBrowser(server.url);
    const { page } = await signInToConsole(browser, 'signup', '/console');
    expect(page).toContain('Your oauth3 console');
    const session = await browser.request('/console/api/session');
    expect(session.status).toBe(200);
    expect(await session.json()).toMatchObject({ account_id: browser.authenticator.credentials[0]!.userHandle });
  });

  it('answers the JSON API with 401 and no data without a session', async () => {
    const res = await fetch(`${server.url}/console/api/session`);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'unauthorized', error_description: expect.any(String) });
  });

  it('refuses a callback whose state this browser did not send', async () => {
    const browser = new TestBrowser(server.url);
    const res = await browser.request('/console/callback?code=x&state=forged');
    expect(res.status).toBe(400);
  });

  it('signs out: the session is gone and the API answers 401', async () => {
    const browser = new TestBrowser(server.url);
    const { csrf } = await signInToConsole(browser);
    const out = await browser.postForm('/console/signout', { csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/?done=signed-out');
    expect(await (await browser.request('/?done=signed-out')).text()).toContain('You are signed out.');
    expect(await (await browser.request('/?done=<b>')).text()).not.toContain('page-notice');
    expect((await browser.request('/console/api/session')).status).toBe(401);
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TestBrowser, csrfFrom, uidFrom } from '../helpers/browser.js';
import { callApi } from '../helpers/owner.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';
import { execute, parseCommand } from '../../src/cli/oauth3.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The hidden fields of the first form on a page (oidc-provider's auto-submitted form, or a form of ours). */
function hiddenFields(page: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [, name, value] of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[name!] ??= value!;
  return fields;
}

/**
 * openid-client polls at the interval the server announced: 1 s here (DEVICE_POLL_INTERVAL, 5 s by default); polling
 * faster would earn slow_down (test/security/device-polling.test.ts).
 */
function poll(config: oidc.Configuration, device: oidc.DeviceAuthorizationResponse, timeoutMs = 20_000) {
  expect(device.interval).toBe(1);
  const result = oidc.pollDeviceAuthorizationGrant(config, device, undefined, { signal: AbortSignal.timeout(timeoutMs) });
  // Settled either way, so a test that expects a rejection can await it later without an unhandled rejection.
  return result.then(
    (tokens) => ({ tokens, error: undefined }),
    (error: unknown) => ({ tokens: undefined, error: error as { error?: string } }),
  );
}

/** An owner's browser on the verification pages: enter (or follow the link with) the code, then confirm it. */
class Owner {
  readonly browser: TestBrowser;
  private signedUp = false;

  constructor(readonly server: TestServer) {
    this.browser = new TestBrowser(server.url);
  }

  /** Opens verification_uri_complete; oidc-provider answers with a form that posts the code on load. */
  async openLink(link: string): Promise<Response> {
    const landing = await this.browser.request(link);
    expect(landing.status).toBe(200);
    const fields = hiddenFields(await landing.text());
    expect(Object.keys(fields).sort()).toEqual(['user_code', 'xsrf']);
    return this.browser.postForm('/device', fields);
  }

  /** Types a code on /device, as someone who was told it would. */
  async enterCode(userCode: string): Promise<Response> {
    const form = await this.browser.request('/device');
    expect(form.status).toBe(200);
    const { xsrf } = hiddenFields(await form.text());
    return this.browser.postForm('/device', { xsrf: xsrf!, user_code: userCode });
  }

  /** Presses "Continue" on the confirmation page; returns where it leads (the sign-in or consent step). */
  async confirm(confirmPage: string): Promise<Response> {
    return this.browser.postForm('/device', hiddenFields(confirmPage));
  }

  /** From the confirmation page through passkey and consent to the last page; returns that page's text. */
  async approve(
    confirmPage: string,
    decision: 'approve' | 'deny' = 'approve',
  ): Promise<{ consentPage: string; finalPage: string; finalStatus: number }> {
    const confirmed = await this.confirm(confirmPage);
    expect(confirmed.status).toBe(303);
    let step = await this.browser.navigate(confirmed.headers.get('location')!);
    let page = await step.response.text();
    if (page.includes('data-ceremony="register"')) {
      const uid = uidFrom(step.url);
      const csrf = csrfFrom(page);
      const kind = this.signedUp ? 'login' : 'register';
      const options: unknown = await (await this.browser.postJson(`/interaction/${uid}/passkey/${kind}/options`, {}, csrf)).json();
      const credential =
        kind === 'register'
          ? this.browser.authenticator.register(options as PublicKeyCredentialCreationOptionsJSON)
          : this.browser.authenticator.authenticate(options as PublicKeyCredentialRequestOptionsJSON);
      const verified = await this.browser.postJson(`/interaction/${uid}/passkey/${kind}`, credential, csrf);
      expect(verified.status).toBe(200);
      this.signedUp = true;
      step = await this.browser.navigate(((await verified.json()) as { redirectTo: string }).redirectTo);
      page = await step.response.text();
    }
    expect(step.url).toContain('/interaction/');
    const consentPage = page;
    const decided = await this.browser.postForm(`/interaction/${uidFrom(step.url)}/consent`, { csrf: csrfFrom(page), decision });
    expect(decided.status).toBe(303);
    const last = await this.browser.navigate(decided.headers.get('location')!);
    expect(last.url).toMatch(/\/device\/[^/]+$/);
    return { consentPage, finalPage: await last.response.text(), finalStatus: last.response.status };
  }
}

/**
 * RFC 8628 driven by openid-client's device authorization API: the agent asks, the owner approves in a browser
 * (passkey, confirmation of the code, the same consent screen as the code flow), the agent's poll gets the tokens.
 */
describe.each(backends())('the device authorization grant on %s storage', (backend) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let agent: oidc.Configuration;
  let owner: Owner;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({ backend, plugins: [echoPlugin(() => upstream.url)], env: { DEVICE_POLL_INTERVAL: '1' } });
    // Registered the way the README says: a public client for the device grant, with no redirect URI.
    const out: string[] = [];
    const argv = ['clients', 'add', '--name', 'Build bot CLI', '--public', '--grant', 'device_code', '--grant', 'refresh_token', '--json'];
    expect(
      await execute(
        parseCommand(argv),
        { config: server.config, db: server.db, scopes: server.app.scopes },
        (line) => out.push(line),
        (line) => out.push(line),
      ),
    ).toBe(0);
    const { client_id: clientId, grant_types: grantTypes } = JSON.parse(out.join('\n')) as { client_id: string; grant_types: string[] };
    expect(grantTypes).toEqual([DEVICE_GRANT, 'refresh_token']);
    agent = await oidc.discovery(new URL(server.url), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    owner = new Owner(server);
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  it('advertises the device authorization endpoint and grant type in discovery', () => {
    const metadata = agent.serverMetadata();
    expect(metadata.device_authorization_endpoint).toBe(`${server.url}/device/auth`);
    expect(metadata.grant_types_supported).toContain(DEVICE_GRANT);
  });

  it('gives the agent tokens after the owner signs up with a passkey, confirms the code and approves', async () => {
    const device = await oidc.initiateDeviceAuthorization(agent, { scope: 'openid offline_access echo.read' });
    expect(device.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(device.verification_uri).toBe(`${server.url}/device`);
    expect(device.verification_uri_complete).toBe(`${server.url}/device?user_code=${device.user_code}`);
    expect(device.expires_in).toBe(server.config.DEVICE_CODE_TTL);
    const polled = poll(agent, device);

    const confirmation = await owner.openLink(device.verification_uri_complete!);
    expect(confirmation.status).toBe(200);
    const confirmPage = await confirmation.text();
    expect(confirmPage).toContain('Connect Build bot CLI on a device?');
    expect(confirmPage).toContain(`<code>${device.user_code}</code>`);
    expect(confirmPage).toContain('Only continue if you started this on your own device.');

    const { consentPage, finalPage } = await owner.approve(confirmPage);
    // The same consent screen as the code flow, saying where the tokens go instead of an empty redirect host.
    expect(consentPage).toContain('Build bot CLI wants access to your oauth3 account');
    expect(consentPage).toContain('the device that showed you the code');
    expect(consentPage).not.toContain('send you back to');
    expect(consentPage).toContain('echo.read');
    expect(finalPage).toContain('Device connected');

    const { tokens, error } = await polled;
    expect(error).toBeUndefined();
    expect(tokens!.access_token).toEqual(expect.any(String));
    expect(tokens!.refresh_token).toEqual(expect.any(String));
    expect(tokens!.claims()!.sub).toBe(owner.browser.authenticator.credentials[0]!.userHandle);

    // The access token works on the resource API; the refresh token gives a new one that works too.
    expect((await callApi(server, '/echo/items/7', tokens!.access_token)).body).toEqual({ id: '7' });
    const refreshed = await oidc.refreshTokenGrant(agent, tokens!.refresh_token!);
    expect(refreshed.access_token).not.toBe(tokens!.access_token);
    expect((await callApi(server, '/echo/items/8', refreshed.access_token)).status).toBe(200);

    // The device code is spent: a second redemption is refused.
    await expect(oidc.pollDeviceAuthorizationGrant(agent, { ...device, interval: 0.01 })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a second approval of a user code already approved', async () => {
    const device = await oidc.initiateDeviceAuthorization(agent, { scope: 'openid echo.read' });
    const polled = poll(agent, device);
    const confirmPage = await (await owner.openLink(device.verification_uri_complete!)).text();
    await owner.approve(confirmPage);
    const { tokens, error } = await polled;
    expect(error).toBeUndefined();
    expect(tokens?.access_token).toEqual(expect.any(String));

    // Entering the code again, or replaying the confirmation, leads nowhere.
    const again = await (await owner.enterCode(device.user_code)).text();
    expect(again).toContain('That code was already used.');
    const stranger = new Owner(server);
    const replay = await stranger.enterCode(device.user_code);
    expect(await replay.text()).toContain('That code was already used.');
  });

  it('asks for consent again on every device request, even from an owner who approved this app before', async () => {
    const device = await oidc.initiateDeviceAuthorization(agent, { scope: 'openid echo.read' });
    const polled = poll(agent, device);
    const confirmed = await owner.confirm(await (await owner.enterCode(device.user_code)).text());
    const step = await owner.browser.navigate(confirmed.headers.get('location')!);
    const consentPage = await step.response.text();
    expect(consentPage).toContain('wants access to your oauth3 account');
    const aborted = await owner.browser.postForm(`/interaction/${uidFrom(step.url)}/abort`, { csrf: csrfFrom(consentPage) });
    expect(aborted.status).toBe(303);
    expect(await (await owner.browser.navigate(aborted.headers.get('location')!)).response.text()).toContain('Request cancelled');
    expect((await polled).error).toMatchObject({ error: 'access_denied' });
  });

  it('accepts the code typed in lower case and without the dash', async () => {
    const device = await oidc.initiateDeviceAuthorization(agent, { scope: 'echo.read' });
    const typed = device.user_code.toLowerCase().replace('-', ' ');
    const page = await (await owner.enterCode(typed)).text();
    expect(page).toContain(`<code>${device.user_code}</code>`);
  });

  it('tells the agent access_denied when the owner denies on the consent page', async () => {
    const device = await oidc.initiateDeviceAuthorization(agent, { scope: 'openid echo.read' });
    const polled = poll(agent, device);
    const { finalPage } = await owner.approve(await (await owner.enterCode(device.user_code)).text(), 'deny');
    expect(finalPage).toContain('Request cancelled');
    const { tokens, error } = await polled;
    expect(tokens).toBeUndefined();
    expect(error).toMatchObject({ error: 'access_denied' });
  });

  it('tells the agent access_denied when the owner cancels on the confirmation page', async () => {
    const device = await oidc.initiateDeviceAuthorization(agent, { scope: 'echo.read' });
    const polled = poll(agent, device);
    const fields = hiddenFields(await (await owner.enterCode(device.user_code)).text());
    const cancelled = await owner.browser.postForm('/device', { ...fields, abort: 'yes' });
    expect(await cancelled.text()).toContain('Request cancelled');
    expect((await polled).error).toMatchObject({ error: 'access_denied' });
  });

  it("refuses a confirmation posted without the form's xsrf value (a cross-site form)", async () => {
    const device = await oidc.initiateDeviceAuthorization(agent, { scope: 'echo.read' });
    const fields = hiddenFields(await (await owner.enterCode(device.user_code)).text());
    const forged = await owner.browser.postForm('/device', { ...fields, xsrf: 'f'.repeat(48) });
    const page = await forged.text();
    expect(page).not.toContain('/interaction/');
    expect(forged.headers.get('location')).toBeNull();
    expect(page).toContain('could not be completed');
    // The device is still waiting: nothing was approved or refused on its behalf.
    const pending = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: device.device_code, client_id: agent.clientMetadata().client_id }),
    });
    expect(await pending.json()).toMatchObject({ error: 'authorization_pending' });
  });

  it('refuses the device flow to a client not registered for it (unauthorized_client)', async () => {
    const web = await server.addClient({ name: 'Web app', redirectUris: ['https://app.example.com/cb'] });
    const res = await fetch(`${server.url}/device/auth`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${web.clientId}:${web.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ scope: 'echo.read' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'unauthorized_client' });
  });

  it('says a wrong code is wrong, and after ten wrong codes refuses even a right one (429)', async () => {
    const device = await oidc.initiateDeviceAuthorization(agent, { scope: 'echo.read' });
    const guesser = new Owner(server);
    for (let i = 0; i < 10; i++) {
      const res = await guesser.enterCode(`BBBB-BB${'BCDFGHJKLM'[i]}B`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('That code is not right.');
    }
    const blocked = await guesser.enterCode(device.user_code);
    expect(blocked.status).toBe(429);
    expect(await blocked.text()).toContain('Too many failed attempts');
  });
});

/** RFC 8628 §3.5: a device polling after its code expired is told expired_token; the owner is told it expired. */
describe.each(backends())('an expired device code on %s storage (DEVICE_CODE_TTL=2)', (backend) => {
  let server: TestServer;
  let agent: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { DEVICE_CODE_TTL: '2', DEVICE_POLL_INTERVAL: '1' } });
    const { clientId } = await server.addClient({ name: 'Slow CLI', public: true, grantTypes: [DEVICE_GRANT] });
    agent = await oidc.discovery(new URL(server.url), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => server?.stop());

  it('answers the poll with expired_token and the owner with "expired"', async () => {
    const device = await oidc.initiateDeviceAuthorization(agent, { scope: 'openid' });
    expect(device.expires_in).toBe(2);
    // Well past the expiry, when nothing but the kept entry can tell this code from one that never existed.
    await sleep(3500);
    const { error } = await poll(agent, device, 10_000);
    expect(error).toMatchObject({ error: 'expired_token' });
    const page = await (await new Owner(server).enterCode(device.user_code)).text();
    expect(page).toContain('That code has expired.');
  });
});

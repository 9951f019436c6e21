import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestBrowser, authorize, csrfFrom, uidFrom } from '../helpers/browser.js';
import { SoftwareAuthenticator } from '../helpers/authenticator.js';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { digestOf } from '../../src/db/at-rest-keys.js';

const redirectUri = 'http://127.0.0.1:8765/cb';

/**
 * The sign-in and consent pages under attack (threat model D1–D5): forged, replayed and racing POSTs against a real
 * server, the headers of every HTML response, and the errors the app gets back. Each case checks the attack's own
 * answer and then that the authorization did not move: resuming it lands on a fresh prompt and no grant or code
 * exists for the app.
 */
describe('interaction pages under attack', () => {
  let server: TestServer;
  /** A signed-in owner of another account, who tries to drive someone else's interaction. */
  let attacker: TestBrowser;
  /** An owner with a registered passkey, for the sign-in step. */
  let returning: SoftwareAuthenticator;

  beforeAll(async () => {
    server = await startTestServer();
    const { clientId } = await server.addClient({ name: 'Attacker app', redirectUris: [redirectUri] });
    attacker = new TestBrowser(server.url);
    await authorize(attacker, authUrl(clientId).url, { passkey: 'signup', consent: 'approve' });
    const owner = new TestBrowser(server.url);
    await authorize(owner, authUrl(clientId).url, { passkey: 'signup', consent: 'approve' });
    returning = owner.authenticator;
  });
  afterAll(() => server?.stop());

  function authUrl(clientId: string, params: Record<string, string> = {}) {
    const state = randomBytes(12).toString('base64url');
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL('/auth', server.url);
    url.search = new URLSearchParams({
      client_id: clientId,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state,
      ...params,
    }).toString();
    return { url: url.toString(), state };
  }

  const newApp = async () => (await server.addClient({ name: 'D app', redirectUris: [redirectUri] })).clientId;

  interface Pending {
    owner: TestBrowser;
    clientId: string;
    uid: string;
    csrf: string;
    state: string;
    page: Response;
  }

  /** A fresh app and a browser standing on its sign-in page. */
  async function pendingLogin(authenticator?: SoftwareAuthenticator): Promise<Pending> {
    const clientId = await newApp();
    const owner = new TestBrowser(server.url, authenticator);
    const { url, state } = authUrl(clientId);
    const step = await owner.navigate(url);
    expect(step.url).toContain('/interaction/');
    const html = await step.response.clone().text();
    expect(html).toContain('id="passkey-login"');
    return { owner, clientId, uid: uidFrom(step.url), csrf: csrfFrom(html), state, page: step.response };
  }

  /** A fresh app and a new owner, signed up with a passkey, standing on its consent page. */
  async function pendingConsent(): Promise<Pending> {
    const login = await pendingLogin();
    const { owner, uid, csrf } = login;
    const options = await owner.postJson(`/interaction/${uid}/passkey/register/options`, {}, csrf);
    expect(options.status).toBe(200);
    const registered = await owner.postJson(
      `/interaction/${uid}/passkey/register`,
      owner.authenticator.register((await options.json()) as PublicKeyCredentialCreationOptionsJSON),
      csrf,
    );
    expect(registered.status).toBe(200);
    const step = await owner.navigate(((await registered.json()) as { redirectTo: string }).redirectTo);
    const html = await step.response.clone().text();
    expect(html).toContain('id="consent-title"');
    return { ...login, uid: uidFrom(step.url), csrf: csrfFrom(html), page: step.response };
  }

  /** WebAuthn challenges the server issued to an interaction (bound to its digest: src/passkeys/challenges.ts). */
  async function challenges(uid: string): Promise<number> {
    const { rows } = await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM webauthn_challenges WHERE binding = $1', [
      digestOf('WebAuthnBinding', `interaction:${uid}`),
    ]);
    return rows[0]!.n;
  }

  /** Grants and authorization codes the server holds for one app. */
  async function issued(clientId: string) {
    const { rows } = await server.db.query<{ model: string; n: number }>(
      `SELECT model, count(*)::int AS n FROM oidc_models
       WHERE model IN ('Grant', 'AuthorizationCode') AND payload->>'clientId' = $1 GROUP BY model`,
      [clientId],
    );
    const count = (model: string) => rows.find((r) => r.model === model)?.n ?? 0;
    return { grants: count('Grant'), codes: count('AuthorizationCode') };
  }

  /**
   * The authorization did not complete: resuming it (as the owner's browser would after a finished step) starts the
   * same prompt over in a new interaction, and the app has no grant and no code.
   */
  async function expectNotCompleted(p: Pending, prompt: 'login' | 'consent') {
    const step = await p.owner.navigate(`/auth/${p.uid}`);
    expect(step.url.startsWith(`${server.url}/interaction/`)).toBe(true);
    expect(uidFrom(step.url)).not.toBe(p.uid);
    expect(await step.response.text()).toContain(prompt === 'login' ? 'id="passkey-login"' : 'id="consent-title"');
    expect(await issued(p.clientId)).toEqual({ grants: 0, codes: 0 });
  }

  const callbackParams = (url: string) => {
    const u = new URL(url);
    expect(`${u.origin}${u.pathname}`).toBe(redirectUri);
    return u.searchParams;
  };

  /** The attacker's own pending interaction for an app: its uid, CSRF token, and interaction cookie header. */
  async function attackerInteraction(clientId: string) {
    const first = await attacker.request(authUrl(clientId, { prompt: 'consent' }).url);
    expect(first.status).toBe(303);
    const cookie = first.headers
      .getSetCookie()
      .map((line) => line.split(';')[0]!)
      .filter((pair) => /^_interaction(\.sig)?=/.test(pair))
      .join('; ');
    expect(cookie).toMatch(/^_interaction=/);
    const step = await attacker.navigate(first.headers.get('location')!);
    return { uid: uidFrom(step.url), csrf: csrfFrom(await step.response.text()), cookie };
  }

  // --- D1 -----------------------------------------------------------------------------------------------------

  interface Attempt {
    path: string;
    body: Record<string, unknown>;
    form: boolean;
  }

  interface Forgery {
    /** undefined: the server's own origin, as the owner's page sends; null: no Origin header at all. */
    origin?: string | null;
    referer?: string;
    /** undefined: the page's token; null: none. */
    csrf?: string | null;
    from?: TestBrowser;
    cookie?: string;
  }

  async function send(p: Pending, a: Attempt, f: Forgery = {}): Promise<Response> {
    const csrf = f.csrf === undefined ? p.csrf : f.csrf;
    const headers: Record<string, string> = {};
    if (f.referer) headers.referer = f.referer;
    if (f.cookie) headers.cookie = f.cookie;
    let body: string;
    if (a.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.accept = 'text/html';
      body = new URLSearchParams({ ...(csrf === null ? {} : { csrf }), ...(a.body as Record<string, string>) }).toString();
    } else {
      headers['content-type'] = 'application/json';
      headers.accept = 'application/json';
      if (csrf !== null) headers['x-csrf-token'] = csrf;
      body = JSON.stringify(a.body);
    }
    return (f.from ?? p.owner).request(a.path, { method: 'POST', headers, body, origin: f.origin });
  }

  interface Step {
    name: string;
    prompt: 'login' | 'consent';
    ok: number;
    pending(): Promise<Pending>;
    attempt(p: Pending): Promise<Attempt>;
  }

  const steps: Step[] = [
    {
      name: 'the passkey sign-in options request',
      prompt: 'login',
      ok: 200,
      pending: () => pendingLogin(),
      attempt: async (p) => ({ path: `/interaction/${p.uid}/passkey/login/options`, body: {}, form: false }),
    },
    {
      name: 'the passkey sign-in',
      prompt: 'login',
      ok: 200,
      pending: () => pendingLogin(returning),
      attempt: async (p) => {
        const options = await p.owner.postJson(`/interaction/${p.uid}/passkey/login/options`, {}, p.csrf);
        expect(options.status).toBe(200);
        return {
          path: `/interaction/${p.uid}/passkey/login`,
          body: { ...p.owner.authenticator.authenticate((await options.json()) as PublicKeyCredentialRequestOptionsJSON) },
          form: false,
        };
      },
    },
    {
      name: 'the passkey registration options request',
      prompt: 'login',
      ok: 200,
      pending: () => pendingLogin(),
      attempt: async (p) => ({ path: `/interaction/${p.uid}/passkey/register/options`, body: {}, form: false }),
    },
    {
      name: 'the passkey registration',
      prompt: 'login',
      ok: 200,
      pending: () => pendingLogin(),
      attempt: async (p) => {
        const options = await p.owner.postJson(`/interaction/${p.uid}/passkey/register/options`, {}, p.csrf);
        expect(options.status).toBe(200);
        return {
          path: `/interaction/${p.uid}/passkey/register`,
          body: { ...p.owner.authenticator.register((await options.json()) as PublicKeyCredentialCreationOptionsJSON) },
          form: false,
        };
      },
    },
    {
      name: 'the cancel button of the sign-in page',
      prompt: 'login',
      ok: 303,
      pending: () => pendingLogin(),
      attempt: async (p) => ({ path: `/interaction/${p.uid}/abort`, body: {}, form: true }),
    },
    {
      name: 'the consent approval',
      prompt: 'consent',
      ok: 303,
      pending: () => pendingConsent(),
      attempt: async (p) => ({ path: `/interaction/${p.uid}/consent`, body: { decision: 'approve' }, form: true }),
    },
  ];

  interface Attack {
    name: string;
    error: string;
    forge(p: Pending): Promise<Forgery>;
  }

  const otherPort = () => `http://localhost:${Number(new URL(server.url).port) + 1}`;

  const attacks: Attack[] = [
    { name: 'a foreign Origin', error: 'forbidden_origin', forge: async () => ({ origin: 'https://evil.example' }) },
    { name: 'the Origin of another site on the same host', error: 'forbidden_origin', forge: async () => ({ origin: otherPort() }) },
    { name: 'Origin: null (a sandboxed frame)', error: 'forbidden_origin', forge: async () => ({ origin: 'null' }) },
    {
      name: 'a same-origin Referer but a foreign Origin',
      error: 'forbidden_origin',
      forge: async () => ({ origin: 'https://evil.example', referer: `${server.url}/interaction/x` }),
    },
    { name: 'no Origin and no Referer', error: 'forbidden_origin', forge: async () => ({ origin: null }) },
    {
      name: 'no Origin and a foreign Referer',
      error: 'forbidden_origin',
      forge: async () => ({ origin: null, referer: 'https://evil.example/page' }),
    },
    { name: 'no CSRF token', error: 'invalid_csrf_token', forge: async () => ({ csrf: null }) },
    { name: 'a wrong CSRF token', error: 'invalid_csrf_token', forge: async () => ({ csrf: randomBytes(32).toString('base64url') }) },
    {
      name: "the CSRF token of the attacker's own interaction",
      error: 'invalid_csrf_token',
      forge: async (p) => ({ csrf: (await attackerInteraction(p.clientId)).csrf }),
    },
    { name: 'no interaction cookie', error: 'interaction_not_found', forge: async () => ({ from: new TestBrowser(server.url) }) },
    {
      name: 'another signed-in browser that knows the uid and the CSRF token',
      error: 'interaction_not_found',
      forge: async () => ({ from: attacker }),
    },
    {
      name: "another browser's own interaction cookie",
      error: 'interaction_not_found',
      forge: async (p) => ({ from: new TestBrowser(server.url), cookie: (await attackerInteraction(p.clientId)).cookie }),
    },
  ];

  describe("D1: only the owner's own page can answer a prompt", () => {
    // The baseline each forgery below differs from in one respect; it also shows that expectNotCompleted would
    // notice a step that went through.
    it.each(steps)("accepts $name from the owner's own page (the baseline for the forgeries below)", async (step) => {
      const p = await step.pending();
      const res = await send(p, await step.attempt(p));
      expect(res.status).toBe(step.ok);
      const resumed = await p.owner.navigate(`/auth/${p.uid}`);
      if (step.name.includes('cancel')) expect(callbackParams(resumed.url).get('error')).toBe('access_denied');
      else if (step.prompt === 'consent') expect(callbackParams(resumed.url).get('code')).toEqual(expect.any(String));
      else if (step.name.endsWith('options request')) {
        expect(await challenges(p.uid)).toBe(1);
        expect(await resumed.response.text()).toContain('id="passkey-login"');
      } else expect(await resumed.response.text()).toContain('id="consent-title"');
    });

    it('accepts a POST that has no Origin but a same-origin Referer (older browsers)', async () => {
      const p = await pendingLogin();
      const res = await send(
        p,
        { path: `/interaction/${p.uid}/passkey/login/options`, body: {}, form: false },
        { origin: null, referer: `${server.url}/interaction/${p.uid}` },
      );
      expect(res.status).toBe(200);
    });

    const cases = steps.flatMap((step) => attacks.map((attack) => ({ step, attack, s: step.name, a: attack.name })));
    it.each(cases)('refuses $s with $a: 403 and no sign-in, grant or code (D1)', async ({ step, attack }) => {
      const p = await step.pending();
      const attempt = await step.attempt(p);
      const res = await send(p, attempt, await attack.forge(p));
      expect(res.status).toBe(403);
      expect(res.headers.get('location')).toBeNull();
      if (attempt.form) {
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
        expect(await res.text()).toContain('Not allowed');
      } else {
        expect(await res.json()).toEqual({ error: attack.error, error_description: expect.any(String) });
      }
      if (attempt.path.endsWith('/options')) expect(await challenges(p.uid)).toBe(0);
      if (attempt.path.endsWith('/passkey/register')) {
        const { rows } = await server.db.query('SELECT 1 FROM passkeys WHERE id = $1', [attempt.body.id]);
        expect(rows).toHaveLength(0);
      }
      await expectNotCompleted(p, step.prompt);
    });
  });

  // --- D2 -----------------------------------------------------------------------------------------------------

  describe('D2: an interaction is decided once', () => {
    const consent = (p: Pending, decision: 'approve' | 'deny') =>
      p.owner.postForm(`/interaction/${p.uid}/consent`, { csrf: p.csrf, decision });

    it('refuses a second consent POST, approving or denying, once the first one decided (D2)', async () => {
      const p = await pendingConsent();
      const first = await consent(p, 'approve');
      expect(first.status).toBe(303);
      for (const decision of ['approve', 'deny'] as const) {
        const again = await consent(p, decision);
        expect(again.status).toBe(409);
        expect(again.headers.get('location')).toBeNull();
      }
      const callback = callbackParams((await p.owner.navigate(first.headers.get('location')!)).url);
      expect(callback.get('code')).toEqual(expect.any(String));
      expect(callback.get('error')).toBeNull();
      expect(await issued(p.clientId)).toEqual({ grants: 1, codes: 1 });
    });

    it('refuses consent, sign-in and resume replays of an interaction the app already got its code from (D2)', async () => {
      const p = await pendingConsent();
      const first = await consent(p, 'approve');
      expect(first.status).toBe(303);
      expect(callbackParams((await p.owner.navigate(first.headers.get('location')!)).url).get('code')).toEqual(expect.any(String));

      for (const decision of ['approve', 'deny'] as const) {
        const again = await consent(p, decision);
        expect(again.status).toBe(403);
        expect(again.headers.get('location')).toBeNull();
      }
      const login = await p.owner.postJson(`/interaction/${p.uid}/passkey/login/options`, {}, p.csrf);
      expect(login.status).toBe(403);
      expect(await login.json()).toEqual({ error: 'interaction_not_found', error_description: expect.any(String) });

      const resumed = await p.owner.navigate(`/auth/${p.uid}`);
      expect(resumed.url.startsWith(server.url)).toBe(true);
      expect(resumed.response.status).toBe(400);
      expect(await issued(p.clientId)).toEqual({ grants: 1, codes: 1 });
    });

    it('takes exactly one decision when two approvals race (D2)', async () => {
      const p = await pendingConsent();
      const answers = await Promise.all([consent(p, 'approve'), consent(p, 'approve')]);
      expect(answers.map((r) => r.status).sort()).toEqual([303, 409]);
      const winner = answers.find((r) => r.status === 303)!;
      expect(callbackParams((await p.owner.navigate(winner.headers.get('location')!)).url).get('code')).toEqual(expect.any(String));
      expect(await issued(p.clientId)).toEqual({ grants: 1, codes: 1 });
    });

    it('takes exactly one decision when an approval and a denial race, and the app sees that one (D2)', async () => {
      const p = await pendingConsent();
      const answers = await Promise.all([consent(p, 'approve'), consent(p, 'deny')]);
      expect(answers.map((r) => r.status).sort()).toEqual([303, 409]);
      const approved = answers[0].status === 303;
      const callback = callbackParams((await p.owner.navigate(answers[approved ? 0 : 1].headers.get('location')!)).url);
      if (approved) {
        expect(callback.get('code')).toEqual(expect.any(String));
        expect(await issued(p.clientId)).toEqual({ grants: 1, codes: 1 });
      } else {
        expect(callback.get('error')).toBe('access_denied');
        expect(callback.get('code')).toBeNull();
        expect(await issued(p.clientId)).toEqual({ grants: 0, codes: 0 });
      }
    });
  });

  // --- D3 -----------------------------------------------------------------------------------------------------

  describe('D3: every HTML response forbids framing, inline scripts, referrers and caching', () => {
    const html = { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' };

    const pages: Array<[string, () => Promise<Response>]> = [
      ['the home page /', () => fetch(`${server.url}/`, { headers: html })],
      ['the sign-in page', async () => (await pendingLogin()).page],
      ['the consent page', async () => (await pendingConsent()).page],
      [
        'the error page for an unknown client_id',
        async () => fetch(authUrl('c_does_not_exist').url, { headers: html, redirect: 'manual' }),
      ],
      [
        'the error page for an unknown interaction',
        () => fetch(`${server.url}/interaction/${randomBytes(16).toString('base64url')}`, { headers: html, redirect: 'manual' }),
      ],
      [
        'the error page of a refused consent form',
        async () => {
          const p = await pendingConsent();
          return p.owner.postForm(`/interaction/${p.uid}/consent`, { csrf: 'forged', decision: 'approve' });
        },
      ],
      ['the sign-out page', async () => (await pendingConsent()).owner.request('/session/end', { headers: html })],
      [
        'the auto-submitting sign-out form for a browser without a session',
        () => fetch(`${server.url}/session/end`, { headers: html, redirect: 'manual' }),
      ],
      [
        'the form_post response page',
        async () => {
          const { url } = authUrl(await newApp(), { prompt: 'none', response_mode: 'form_post' });
          return fetch(url, { headers: html, redirect: 'manual' });
        },
      ],
    ];

    it.each(pages)(
      "%s has frame-ancestors 'none', no unsafe-inline scripts, X-Frame-Options DENY, no referrer, no-store (D3)",
      async (_name, load) => {
        const res = await load();
        expect(res.headers.get('content-type')).toMatch(/^text\/html/);
        const header = res.headers.get('content-security-policy');
        expect(header).toEqual(expect.any(String));
        const directives = new Map(
          header!
            .split(';')
            .map((d) => d.trim())
            .filter(Boolean)
            .map((d) => {
              const [name, ...values] = d.split(/\s+/);
              return [name!.toLowerCase(), values] as const;
            }),
        );
        expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
        const scriptSrc = directives.get('script-src') ?? directives.get('default-src');
        expect(scriptSrc).toBeDefined();
        expect(scriptSrc).not.toContain("'unsafe-inline'");
        expect(res.headers.get('x-frame-options')).toBe('DENY');
        expect(res.headers.get('referrer-policy')).toBe('no-referrer');
        expect(res.headers.get('cache-control')).toBe('no-store');
      },
    );
  });

  // --- D4 -----------------------------------------------------------------------------------------------------

  describe('D4: a refusal reaches the app as access_denied', () => {
    it('redirects a denial to the app with error=access_denied, its state and iss, and no code (D4)', async () => {
      const p = await pendingConsent();
      const res = await p.owner.postForm(`/interaction/${p.uid}/consent`, { csrf: p.csrf, decision: 'deny' });
      expect(res.status).toBe(303);
      const callback = callbackParams((await p.owner.navigate(res.headers.get('location')!)).url);
      expect(callback.get('error')).toBe('access_denied');
      expect(callback.get('state')).toBe(p.state);
      expect(callback.get('iss')).toBe(server.url);
      expect(callback.has('code')).toBe(false);
      expect(await issued(p.clientId)).toEqual({ grants: 0, codes: 0 });
    });

    it('redirects a cancelled sign-in to the app with error=access_denied, its state and iss, and no code (D4)', async () => {
      const p = await pendingLogin();
      const res = await p.owner.postForm(`/interaction/${p.uid}/abort`, { csrf: p.csrf });
      expect(res.status).toBe(303);
      const callback = callbackParams((await p.owner.navigate(res.headers.get('location')!)).url);
      expect(callback.get('error')).toBe('access_denied');
      expect(callback.get('state')).toBe(p.state);
      expect(callback.get('iss')).toBe(server.url);
      expect(callback.has('code')).toBe(false);
      expect(await issued(p.clientId)).toEqual({ grants: 0, codes: 0 });
    });
  });

  // --- D5 -----------------------------------------------------------------------------------------------------

  describe('D5: prompt=none never shows a page', () => {
    it('answers prompt=none without a session with login_required, its state and iss, and no code (D5)', async () => {
      const clientId = await newApp();
      const { url, state } = authUrl(clientId, { prompt: 'none' });
      const callback = callbackParams((await new TestBrowser(server.url).navigate(url)).url);
      expect(callback.get('error')).toBe('login_required');
      expect(callback.get('state')).toBe(state);
      expect(callback.get('iss')).toBe(server.url);
      expect(callback.has('code')).toBe(false);
      expect(await issued(clientId)).toEqual({ grants: 0, codes: 0 });
    });

    it.each(['openid tweet.read', 'openid profile'])(
      'answers prompt=none for a scope not yet granted (%s) with consent_required and no code (D5)',
      async (scope) => {
        const clientId = await newApp();
        const owner = new TestBrowser(server.url);
        await authorize(owner, authUrl(clientId).url, { passkey: 'signup', consent: 'approve' });
        // The session and the openid grant are live: the same request with prompt=none gets a code.
        const granted = callbackParams((await owner.navigate(authUrl(clientId, { prompt: 'none' }).url)).url);
        expect(granted.get('code')).toEqual(expect.any(String));
        const codes = (await issued(clientId)).codes;

        const { url, state } = authUrl(clientId, { prompt: 'none', scope });
        const callback = callbackParams((await owner.navigate(url)).url);
        expect(callback.get('error')).toBe('consent_required');
        expect(callback.get('state')).toBe(state);
        expect(callback.get('iss')).toBe(server.url);
        expect(callback.has('code')).toBe(false);
        expect((await issued(clientId)).codes).toBe(codes);
      },
    );
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestBrowser, authorize } from '../helpers/browser.js';

/**
 * The authorization endpoint under attack (threat model A1–A6). Every request here is hand-built; the owner's browser
 * is signed in and has already consented, so a request the server wrongly accepted would hand out a real code.
 */

const webUri = 'https://app.example.com/oauth/callback';
const loopbackUri = 'http://127.0.0.1:8765/callback';
const queryUri = 'https://app.example.com/cb?tenant=a';
const registered = [webUri, loopbackUri, queryUri];

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

/** One redirect_uri change an attacker might try, by the family threat model A1 names. */
interface Mutation {
  family: string;
  apply(uri: string): string | undefined;
}

const withUrl = (uri: string, change: (u: URL) => void): string => {
  const u = new URL(uri);
  change(u);
  return u.href;
};
const swapHost = (uri: string, host: string) => uri.replace(new URL(uri).host, host);
/** Where the last path segment starts, whatever sits in the authority. */
const lastSlash = (uri: string) => {
  const end = uri.search(/[?#]/);
  return (end < 0 ? uri : uri.slice(0, end)).lastIndexOf('/');
};

const mutations: Mutation[] = [
  { family: 'trailing slash', apply: (u) => `${u}/` },
  {
    family: 'trailing slash',
    apply: (u) =>
      withUrl(u, (x) => {
        x.pathname += '/';
      }),
  },
  { family: 'extra query', apply: (u) => `${u}${u.includes('?') ? '&' : '?'}x=1` },
  { family: 'extra query', apply: (u) => (u.includes('?') ? undefined : `${u}?`) },
  { family: 'extra query', apply: (u) => (u.includes('?') ? u.replace(/\?.*$/, '?tenant=b') : undefined) },
  { family: 'extra query', apply: (u) => (u.includes('?') ? u.replace(/\?.*$/, '') : undefined) },
  { family: 'fragment', apply: (u) => `${u}#x` },
  { family: 'fragment', apply: (u) => `${u}#` },
  { family: 'case', apply: (u) => (/[a-z]/.test(new URL(u).hostname) ? swapHost(u, new URL(u).host.toUpperCase()) : undefined) },
  {
    family: 'case',
    apply: (u) =>
      withUrl(u, (x) => {
        x.pathname = x.pathname.toUpperCase();
      }),
  },
  { family: 'case', apply: (u) => u.replace(/^https?/, (s) => s.toUpperCase()) },
  { family: 'encoded dots', apply: (u) => `${u.slice(0, lastSlash(u))}/x/%2e%2e${u.slice(lastSlash(u))}` },
  { family: 'encoded dots', apply: (u) => `${u.slice(0, lastSlash(u))}/x/%2E%2E${u.slice(lastSlash(u))}` },
  { family: 'encoded dots', apply: (u) => `${u.slice(0, lastSlash(u))}/x/..${u.slice(lastSlash(u))}` },
  { family: 'encoded dots', apply: (u) => `${u.slice(0, lastSlash(u))}/.${u.slice(lastSlash(u))}` },
  { family: 'encoded dots', apply: (u) => `${u.slice(0, lastSlash(u))}%2f${u.slice(lastSlash(u) + 1)}` },
  {
    family: 'encoded dots',
    apply: (u) => u.replace(/\/([a-z])([a-z]*)$/, (_m, a: string, rest: string) => `/%${a.charCodeAt(0).toString(16)}${rest}`),
  },
  { family: 'user@host', apply: (u) => swapHost(u, `evil.example@${new URL(u).host}`) },
  { family: 'user@host', apply: (u) => swapHost(u, `${new URL(u).host}@evil.example`) },
  { family: 'user@host', apply: (u) => swapHost(u, `${new URL(u).host}%40evil.example`) },
  { family: 'scheme', apply: (u) => (u.startsWith('https:') ? u.replace(/^https:/, 'http:') : u.replace(/^http:/, 'https:')) },
  { family: 'scheme', apply: (u) => u.replace(/^https?:/, 'javascript:') },
  {
    family: 'port',
    apply: (u) => (new URL(u).port ? undefined : swapHost(u, `${new URL(u).hostname}:${u.startsWith('https:') ? 443 : 80}`)),
  },
  { family: 'port', apply: (u) => swapHost(u, `${new URL(u).hostname}:${Number(new URL(u).port || 443) + 1}`) },
  { family: 'port', apply: (u) => (new URL(u).port ? swapHost(u, new URL(u).hostname) : undefined) },
  {
    family: 'extra path',
    apply: (u) =>
      withUrl(u, (x) => {
        x.pathname += '/extra';
      }),
  },
  {
    family: 'extra path',
    apply: (u) =>
      withUrl(u, (x) => {
        x.pathname += 'x';
      }),
  },
  {
    family: 'extra path',
    apply: (u) =>
      withUrl(u, (x) => {
        x.pathname = `/evil${x.pathname}`;
      }),
  },
  { family: 'host', apply: (u) => swapHost(u, `${new URL(u).hostname}.evil.example${new URL(u).port ? `:${new URL(u).port}` : ''}`) },
  { family: 'host', apply: (u) => swapHost(u, `${new URL(u).hostname}.${new URL(u).port ? `:${new URL(u).port}` : ''}`) },
  { family: 'host', apply: (u) => (new URL(u).hostname === '127.0.0.1' ? swapHost(u, `localhost:${new URL(u).port}`) : undefined) },
  { family: 'whitespace', apply: (u) => `${u} ` },
  { family: 'whitespace', apply: (u) => ` ${u}` },
  { family: 'whitespace', apply: (u) => `${u}\r\nSet-Cookie: x=1` },
];

/** A small deterministic PRNG, so the generated composite mutations are the same on every run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every single mutation of every registered URI, plus 40 seeded two-step compositions (scheme + port, …). */
function generateMutations(): Array<[string, string, string]> {
  const out = new Map<string, [string, string, string]>();
  const add = (family: string, base: string, value: string | undefined) => {
    if (value === undefined || registered.includes(value) || out.has(value)) return;
    out.set(value, [family, base, value]);
  };
  for (const base of registered) for (const m of mutations) add(m.family, base, m.apply(base));
  const random = mulberry32(0x0a1);
  for (let i = 0; i < 40; i++) {
    const base = registered[Math.floor(random() * registered.length)]!;
    const first = mutations[Math.floor(random() * mutations.length)]!;
    const second = mutations[Math.floor(random() * mutations.length)]!;
    const once = first.apply(base);
    add(`${first.family} + ${second.family}`, base, once === undefined ? undefined : second.apply(once));
  }
  return [...out.values()];
}

describe('the authorization endpoint refuses what RFC 9700 and OAuth 2.1 forbid (threat model A1–A6)', () => {
  let server: TestServer;
  let browser: TestBrowser;
  let confidential: { clientId: string; clientSecret?: string };
  let publicClient: { clientId: string };
  let single: { clientId: string };

  beforeAll(async () => {
    server = await startTestServer();
    confidential = await server.addClient({ name: 'Several URIs', redirectUris: registered });
    publicClient = await server.addClient({ name: 'Native app', redirectUris: [loopbackUri], public: true });
    single = await server.addClient({ name: 'One URI', redirectUris: [webUri] });
    browser = new TestBrowser(server.url);
    // The owner signs up and consents to every client, so any accepted request below would yield a code at once.
    let passkey: 'signup' | 'none' = 'signup';
    for (const [client, redirectUri] of [
      [confidential, webUri],
      [publicClient, loopbackUri],
      [single, webUri],
    ] as const) {
      const callback = new URL(await authorize(browser, authUrl({ client_id: client.clientId, redirect_uri: redirectUri }), { passkey }));
      expect(callback.searchParams.get('code')).toEqual(expect.any(String));
      passkey = 'none';
    }
  });
  afterAll(() => server?.stop());

  const baseParams = () => {
    const { challenge } = pkce();
    return { response_type: 'code', scope: 'openid tweet.read', state: 'st', code_challenge: challenge, code_challenge_method: 'S256' };
  };

  /** `/auth?…` with sane defaults; `null` drops a default, arrays repeat the parameter. */
  function authUrl(overrides: Record<string, string | string[] | null>): string {
    const merged: Record<string, string | string[] | null> = { ...baseParams(), ...overrides };
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(merged)) {
      if (value === null) continue;
      for (const v of Array.isArray(value) ? value : [value]) query.append(key, v);
    }
    return `${server.url}/auth?${query}`;
  }

  const anonymous = (url: string) => fetch(url, { redirect: 'manual' });

  /** The parameters a redirect delivers, from the query and the fragment alike. */
  function delivered(location: string): URLSearchParams {
    const u = new URL(location);
    const params = new URLSearchParams(u.search);
    for (const [k, v] of new URLSearchParams(u.hash.slice(1))) params.append(k, v);
    return params;
  }

  async function expectErrorPage(res: Response, error: string) {
    expect(res.headers.get('location')).toBeNull();
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const page = await res.text();
    expect(page).toContain(error);
    expect(page).not.toMatch(/code=|access_token|id_token=/);
  }

  /** An error sent back to the registered redirect_uri: 303, error, iss, and never a code or token. */
  function expectErrorRedirect(res: Response, redirectUri: string, error: string) {
    expect(res.status).toBe(303);
    const location = res.headers.get('location')!;
    expect(location.startsWith(redirectUri)).toBe(true);
    const params = delivered(location);
    expect(params.get('error')).toBe(error);
    expect(params.get('iss')).toBe(server.url);
    for (const leaked of ['code', 'access_token', 'id_token', 'refresh_token']) expect(params.has(leaked)).toBe(false);
  }

  describe('A1 redirect_uri is compared exactly', () => {
    const cases = generateMutations();

    it('generates mutations of every family for every registered URI', () => {
      const families = new Set(cases.map(([family]) => family));
      for (const f of ['trailing slash', 'extra query', 'fragment', 'case', 'encoded dots', 'user@host', 'scheme', 'port', 'extra path']) {
        expect(families).toContain(f);
      }
      for (const base of registered) expect(cases.filter(([, b]) => b === base).length).toBeGreaterThanOrEqual(25);
    });

    it.each(registered)('accepts the exact registered URI %s and sends a new browser to sign in', async (redirectUri) => {
      const res = await anonymous(authUrl({ client_id: confidential.clientId, redirect_uri: redirectUri }));
      expect([302, 303]).toContain(res.status);
      expect(new URL(res.headers.get('location')!, server.url).href).toMatch(new RegExp(`^${server.url}/interaction/[^/]+$`));
    });

    it.each(cases)('shows its own error page and redirects nowhere for %s of %s: %j', async (_family, _base, mutated) => {
      const res = await anonymous(authUrl({ client_id: confidential.clientId, redirect_uri: mutated }));
      await expectErrorPage(res, 'invalid_redirect_uri');
      // A signed-in owner who already consented gets no code at the mutated URI either.
      await expectErrorPage(
        await browser.request(authUrl({ client_id: confidential.clientId, redirect_uri: mutated })),
        'invalid_redirect_uri',
      );
    });

    it('refuses a URI registered only for another client', async () => {
      await expectErrorPage(
        await browser.request(authUrl({ client_id: publicClient.clientId, redirect_uri: webUri })),
        'invalid_redirect_uri',
      );
    });
  });

  describe('A2 the client and its redirect_uri must be known before anything is sent back', () => {
    it('shows an error page without redirecting when client_id is missing', async () => {
      await expectErrorPage(await browser.request(authUrl({ redirect_uri: webUri })), 'invalid_request');
    });

    it.each([
      ['an unknown', 'c_doesnotexist', 'invalid_client'],
      ['a URL-shaped', 'https://evil.example/client.json', 'invalid_client'],
      ['an empty', '', 'invalid_request'],
    ])('shows an error page without redirecting for %s client_id', async (_what, clientId, error) => {
      await expectErrorPage(await browser.request(authUrl({ client_id: clientId, redirect_uri: webUri })), error);
      await expectErrorPage(await anonymous(authUrl({ client_id: clientId, redirect_uri: webUri })), error);
    });

    it('shows an error page without redirecting when redirect_uri is missing for a client with several', async () => {
      await expectErrorPage(await browser.request(authUrl({ client_id: confidential.clientId })), 'invalid_request');
      await expectErrorPage(await anonymous(authUrl({ client_id: confidential.clientId })), 'invalid_request');
    });
  });

  describe('A3 only response_type=code is served, and no token ever travels in the front channel', () => {
    const refused = [
      'token',
      'id_token',
      'code id_token',
      'code token',
      'id_token token',
      'code id_token token',
      'none',
      'code%20token',
      'CODE',
    ];

    const request = (responseType: string, responseMode?: string) =>
      browser.request(
        authUrl({
          client_id: confidential.clientId,
          redirect_uri: webUri,
          response_type: responseType,
          nonce: 'n-0S6_WzA2Mj',
          response_mode: responseMode ?? null,
        }),
      );

    it.each(
      refused.flatMap(
        (rt) =>
          [
            [rt, undefined],
            [rt, 'query'],
            [rt, 'fragment'],
          ] as const,
      ),
    )(
      'refuses response_type=%j (response_mode %s) with an error redirect that carries no code or token',
      async (responseType, responseMode) => {
        const res = await request(responseType, responseMode);
        expect(res.status).toBe(303);
        const location = res.headers.get('location')!;
        expect(location.startsWith(webUri)).toBe(true);
        const params = delivered(location);
        // query is refused for response types that would put tokens in the URL (OAuth 2.0 Multiple Response Types §5).
        expect(['unsupported_response_type', 'invalid_request']).toContain(params.get('error'));
        for (const leaked of ['code', 'access_token', 'id_token', 'refresh_token']) expect(params.has(leaked)).toBe(false);
      },
    );

    it.each(refused)('refuses response_type=%j with response_mode=form_post, posting only the error', async (responseType) => {
      const res = await request(responseType, 'form_post');
      expect(res.status).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      const page = await res.text();
      expect(page).toContain('unsupported_response_type');
      expect(page).not.toMatch(/name="(code|access_token|id_token|refresh_token)"/);
    });

    it('refuses a request without response_type', async () => {
      expectErrorRedirect(await request('', undefined), webUri, 'invalid_request');
      expectErrorRedirect(
        await browser.request(authUrl({ client_id: confidential.clientId, redirect_uri: webUri, response_type: null })),
        webUri,
        'invalid_request',
      );
    });

    it('lists only "code" in discovery', async () => {
      const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(meta.response_types_supported).toEqual(['code']);
    });
  });

  describe('A4 PKCE with S256 is required of every client', () => {
    const challenge = pkce().challenge;
    const badRequests: Array<[string, Record<string, string | null>]> = [
      ['no code_challenge', { code_challenge: null, code_challenge_method: null }],
      ['no code_challenge but a method', { code_challenge: null }],
      ['code_challenge_method=plain', { code_challenge: challenge, code_challenge_method: 'plain' }],
      ['a code_challenge without a method', { code_challenge: challenge, code_challenge_method: null }],
      ['code_challenge_method=s256 in lower case', { code_challenge_method: 's256' }],
      ['an unknown code_challenge_method', { code_challenge_method: 'S512' }],
      ['a 42-character challenge', { code_challenge: challenge.slice(0, 42) }],
      ['a 129-character challenge', { code_challenge: challenge.repeat(3).slice(0, 129) }],
      ['a challenge with "+" and "/"', { code_challenge: `${challenge.slice(0, 41)}+/` }],
      ['a padded challenge', { code_challenge: `${challenge}=` }],
      ['a challenge with a space', { code_challenge: `${challenge.slice(0, 21)} ${challenge.slice(22)}` }],
      ['an empty challenge', { code_challenge: '' }],
    ];

    it.each(badRequests)('refuses %s from a confidential client, with no code', async (_what, overrides) => {
      const res = await browser.request(authUrl({ client_id: confidential.clientId, redirect_uri: webUri, ...overrides }));
      expectErrorRedirect(res, webUri, 'invalid_request');
    });

    it.each(badRequests)('refuses %s from a public client, with no code', async (_what, overrides) => {
      const res = await browser.request(authUrl({ client_id: publicClient.clientId, redirect_uri: loopbackUri, ...overrides }));
      expectErrorRedirect(res, loopbackUri, 'invalid_request');
    });

    it('advertises S256 only', async () => {
      const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    });
  });

  describe('A5 a successful response is a 302/303 with code, the exact state and iss (RFC 9207)', () => {
    const states: Array<[string, string]> = [
      ['with a space, plus, slash, equals and é', 'a b+c/d=é'],
      ['with percent escapes and delimiters', '%41%2B&x=1;y?z#w'],
      ['with quotes and markup', '"<\'>`\\'],
      ['in emoji and Cyrillic', '🔑 ключ'],
      ['with leading and trailing spaces', ' padded '],
      ['of 500 characters', 'a'.repeat(500)],
    ];

    /** Records every response the browser receives, to inspect the one that leaves the server. */
    function recording(b: TestBrowser): Array<{ status: number; location: string | null }> {
      const seen: Array<{ status: number; location: string | null }> = [];
      const original = b.request.bind(b);
      b.request = async (url, init) => {
        const res = await original(url, init);
        seen.push({ status: res.status, location: res.headers.get('location') });
        return res;
      };
      return seen;
    }

    function expectSuccess(status: number, location: string, redirectUri: string, state: string) {
      expect([302, 303]).toContain(status);
      expect(location.startsWith(redirectUri.replace(/\?.*$/, ''))).toBe(true);
      const u = new URL(location);
      expect(u.hash).toBe('');
      expect(u.searchParams.get('code')).toMatch(/^[\w-]{20,}$/);
      expect(u.searchParams.getAll('state')).toEqual([state]);
      expect(u.searchParams.getAll('iss')).toEqual([server.url]);
      for (const leaked of ['access_token', 'id_token', 'refresh_token']) expect(u.searchParams.has(leaked)).toBe(false);
    }

    it.each(states)(
      'answers a signed-in owner at once with a 302/303 carrying code, iss and a state %s byte for byte',
      async (_what, state) => {
        const res = await browser.request(authUrl({ client_id: confidential.clientId, redirect_uri: webUri, state }));
        expectSuccess(res.status, res.headers.get('location')!, webUri, state);
      },
    );

    it('keeps the registered query of the redirect_uri and adds code, state and iss', async () => {
      const state = 'a b+c/d=é';
      const res = await browser.request(authUrl({ client_id: confidential.clientId, redirect_uri: queryUri, state }));
      expectSuccess(res.status, res.headers.get('location')!, queryUri, state);
      expect(new URL(res.headers.get('location')!).searchParams.getAll('tenant')).toEqual(['a']);
    });

    it('ends the full passkey sign-up and consent flow with a 302/303 carrying code, state and iss', async () => {
      const fresh = new TestBrowser(server.url);
      const seen = recording(fresh);
      const state = 'a b+c/d=é';
      const callback = await authorize(fresh, authUrl({ client_id: single.clientId, redirect_uri: webUri, state }), { passkey: 'signup' });
      const last = seen.filter((r) => r.location?.startsWith(webUri));
      expect(last).toHaveLength(1);
      expectSuccess(last[0]!.status, last[0]!.location!, webUri, state);
      expect(callback).toBe(new URL(last[0]!.location!).href);
      // No step of the flow used 307/308, which would replay a POST body (passkey, CSRF token) to the app.
      expect(seen.map((r) => r.status).filter((s) => s === 307 || s === 308)).toEqual([]);
    });

    it('announces authorization_response_iss_parameter_supported in discovery', async () => {
      const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(meta.authorization_response_iss_parameter_supported).toBe(true);
    });
  });

  describe('A6 duplicated parameters are refused, unknown ones ignored', () => {
    it.each(['scope', 'state', 'code_challenge', 'code_challenge_method', 'response_type', 'nonce', 'prompt'])(
      'refuses a repeated %s with invalid_request and no code',
      async (name) => {
        const base = baseParams() as Record<string, string>;
        const value = name === 'nonce' ? 'n1' : name === 'prompt' ? 'login' : base[name]!;
        const res = await browser.request(authUrl({ client_id: confidential.clientId, redirect_uri: webUri, [name]: [value, value] }));
        expectErrorRedirect(res, webUri, 'invalid_request');
      },
    );

    it('does not echo a repeated state', async () => {
      const res = await browser.request(authUrl({ client_id: confidential.clientId, redirect_uri: webUri, state: ['one', 'two'] }));
      expectErrorRedirect(res, webUri, 'invalid_request');
      expect(delivered(res.headers.get('location')!).has('state')).toBe(false);
    });

    it('refuses a repeated redirect_uri on its own page, redirecting nowhere', async () => {
      await expectErrorPage(
        await browser.request(authUrl({ client_id: confidential.clientId, redirect_uri: [webUri, loopbackUri] })),
        'invalid_request',
      );
      await expectErrorPage(
        await browser.request(authUrl({ client_id: confidential.clientId, redirect_uri: [webUri, webUri] })),
        'invalid_request',
      );
    });

    it('refuses a repeated client_id on its own page, redirecting nowhere', async () => {
      await expectErrorPage(
        await browser.request(authUrl({ client_id: [confidential.clientId, publicClient.clientId], redirect_uri: webUri })),
        'invalid_request',
      );
    });

    it('ignores an unknown extra parameter and issues the code as usual', async () => {
      const res = await browser.request(
        authUrl({ client_id: confidential.clientId, redirect_uri: webUri, state: 's1', foo: 'bar', 'x-debug': '1' }),
      );
      expect([302, 303]).toContain(res.status);
      const location = new URL(res.headers.get('location')!);
      expect(location.href.startsWith(webUri)).toBe(true);
      expect(location.searchParams.get('code')).toEqual(expect.any(String));
      expect(location.searchParams.get('state')).toBe('s1');
      expect(location.searchParams.has('foo')).toBe(false);
    });
  });
});

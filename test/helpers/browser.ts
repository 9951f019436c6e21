import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { SoftwareAuthenticator, type Tamper } from './authenticator.js';
import { fetchWouldRewrite, rawRequest } from './raw-http.js';

interface Cookie {
  name: string;
  value: string;
  path: string;
}

/** A request sent byte for byte carries text: a string or form fields. */
function rawBody(body: BodyInit | null | undefined): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  throw new Error('a raw request sends a string or URLSearchParams body');
}

/**
 * A minimal browser for protocol tests: a cookie jar that honours paths and expiry, manual redirects, the Origin
 * header a real browser sends on POST, and a software passkey authenticator.
 */
export class TestBrowser {
  private jar = new Map<string, Cookie>();
  readonly authenticator: SoftwareAuthenticator;

  constructor(
    readonly origin: string,
    authenticator?: SoftwareAuthenticator,
  ) {
    this.authenticator = authenticator ?? new SoftwareAuthenticator({ origin, rpId: new URL(origin).hostname });
  }

  cookieNames(): string[] {
    return [...this.jar.values()].map((c) => c.name);
  }

  clearCookies(): void {
    this.jar.clear();
  }

  async request(url: string, init: RequestInit & { origin?: string | null } = {}): Promise<Response> {
    // A path fetch() would rewrite (dot segments, backslashes) goes out as written: the path tests send such spellings.
    const path = url.startsWith(`${this.origin}/`) ? url.slice(this.origin.length) : url;
    const raw = fetchWouldRewrite(this.origin, path);
    const target = new URL(url, this.origin);
    const sentPath = raw ? path.split('?')[0]! : target.pathname;
    const headers = new Headers(init.headers);
    const cookie = [...this.jar.values()]
      .filter((c) => sentPath === c.path || sentPath.startsWith(c.path.endsWith('/') ? c.path : c.path + '/'))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    if (cookie) headers.set('cookie', cookie);
    const method = (init.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && init.origin !== null && !headers.has('origin')) headers.set('origin', init.origin ?? this.origin);
    const res = raw
      ? await rawRequest(this.origin, path, { method, headers, body: rawBody(init.body) })
      : await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) this.store(line, target);
    return res;
  }

  private store(line: string, target: URL): void {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const eq = pair!.indexOf('=');
    const name = pair!.slice(0, eq);
    const value = pair!.slice(eq + 1);
    let cookiePath = '/';
    let expired = false;
    for (const attr of attrs) {
      const [k, v = ''] = attr.split('=');
      const key = k!.toLowerCase();
      if (key === 'path') cookiePath = v;
      if (key === 'max-age' && Number(v) <= 0) expired = true;
      if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
    }
    void target;
    const id = `${name};${cookiePath}`;
    if (expired || value === '') this.jar.delete(id);
    else this.jar.set(id, { name, value, path: cookiePath });
  }

  /** Follows redirects from `url` until one leaves this server (the app's redirect_uri) or a page is served. */
  async navigate(url: string): Promise<{ url: string; response: Response }> {
    let current = url.startsWith('/') ? `${this.origin}${url}` : new URL(url, this.origin).toString();
    for (let hops = 0; hops < 10; hops++) {
      if (!current.startsWith(this.origin + '/')) return { url: current, response: new Response(null, { status: 200 }) };
      const response = await this.request(current);
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || !location) return { url: current, response };
      current = new URL(location, current).toString();
    }
    throw new Error('too many redirects');
  }

  async postJson(path: string, body: unknown, csrf: string, init: RequestInit & { origin?: string | null } = {}): Promise<Response> {
    return this.request(path, {
      ...init,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'x-csrf-token': csrf,
        ...(init.headers as Record<string, string>),
      },
      body: JSON.stringify(body),
    });
  }

  async postForm(path: string, fields: Record<string, string>, init: RequestInit & { origin?: string | null } = {}): Promise<Response> {
    return this.request(path, {
      ...init,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(init.headers as Record<string, string>) },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

export const csrfFrom = (page: string): string => {
  const match = /data-csrf="([^"]+)"/.exec(page) ?? /name="csrf" value="([^"]+)"/.exec(page);
  if (!match) throw new Error('no CSRF token on the page');
  return match[1]!;
};

export const uidFrom = (url: string): string => /\/interaction\/([^/?#]+)/.exec(url)![1]!;

export interface AuthorizeOptions {
  /** sign up with a new passkey, sign in with an existing one, or expect an existing session */
  passkey?: 'signup' | 'signin' | 'none';
  consent?: 'approve' | 'deny' | 'none';
  tamper?: Tamper;
}

/**
 * Drives one authorization request through the pages as an owner would: passkey, then consent. Returns the URL the
 * server finally redirects to (the app's redirect_uri with code or error).
 */
export async function authorize(browser: TestBrowser, authorizationUrl: string, options: AuthorizeOptions = {}): Promise<string> {
  const { passkey = 'signup', consent = 'approve' } = options;
  let step = await browser.navigate(authorizationUrl);
  if (passkey !== 'none') {
    if (!step.url.includes('/interaction/')) throw new Error(`expected the sign-in page, got ${step.url} (${step.response.status})`);
    const uid = uidFrom(step.url);
    const csrf = csrfFrom(await step.response.text());
    const kind = passkey === 'signup' ? 'register' : 'login';
    const optionsRes = await browser.postJson(`/interaction/${uid}/passkey/${kind}/options`, {}, csrf);
    if (optionsRes.status !== 200) throw new Error(`passkey options failed: ${optionsRes.status} ${await optionsRes.text()}`);
    const creationOrRequest: unknown = await optionsRes.json();
    const credential =
      kind === 'register'
        ? browser.authenticator.register(creationOrRequest as PublicKeyCredentialCreationOptionsJSON, options.tamper)
        : browser.authenticator.authenticate(creationOrRequest as PublicKeyCredentialRequestOptionsJSON, options.tamper);
    const verifyRes = await browser.postJson(`/interaction/${uid}/passkey/${kind}`, credential, csrf);
    if (verifyRes.status !== 200) throw new Error(`passkey ${kind} failed: ${verifyRes.status} ${await verifyRes.text()}`);
    const { redirectTo } = (await verifyRes.json()) as { redirectTo: string };
    step = await browser.navigate(redirectTo);
  }
  if (consent !== 'none' && step.url.includes('/interaction/')) {
    const uid = uidFrom(step.url);
    const csrf = csrfFrom(await step.response.text());
    const res = await browser.postForm(`/interaction/${uid}/consent`, { csrf, decision: consent });
    if (res.status !== 303) throw new Error(`consent failed: ${res.status} ${await res.text()}`);
    step = await browser.navigate(res.headers.get('location')!);
  }
  return step.url;
}

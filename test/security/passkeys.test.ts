import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestBrowser, authorize, csrfFrom, uidFrom } from '../helpers/browser.js';
import { SoftwareAuthenticator, type Tamper } from '../helpers/authenticator.js';

const redirectUri = 'http://127.0.0.1:8765/cb';

/**
 * Passkey sign-in under attack (threat model E2–E6, E8): a software authenticator forges, replays and tampers with
 * assertions against a real server. Every refusal is checked twice: the endpoint's own answer (400 with
 * `{ error, error_description }`, or 429), and that nobody got signed in: resuming the authorization starts the
 * sign-in page over instead of moving on.
 */

/** One server, one app, and the owners that exist on it. */
function harness(env: Record<string, string> = {}) {
  const h = {
    server: undefined as unknown as TestServer,
    clientId: '',
    authUrl(): string {
      const url = new URL('/auth', h.server.url);
      url.search = new URLSearchParams({
        client_id: h.clientId,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: 'openid',
        code_challenge: createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url'),
        code_challenge_method: 'S256',
        state: randomBytes(12).toString('base64url'),
      }).toString();
      return url.toString();
    },
    /** A new owner: a browser whose authenticator holds one passkey registered here (and consent for the app). */
    async owner(): Promise<SoftwareAuthenticator> {
      const browser = new TestBrowser(h.server.url);
      await authorize(browser, h.authUrl(), { passkey: 'signup', consent: 'approve' });
      expect(browser.authenticator.credentials).toHaveLength(1);
      return browser.authenticator;
    },
    /** A browser with no session, standing on the sign-in page, holding `authenticator`. */
    async signInPage(authenticator?: SoftwareAuthenticator): Promise<SignIn> {
      const browser = new TestBrowser(h.server.url, authenticator);
      const step = await browser.navigate(h.authUrl());
      const html = await step.response.text();
      expect(html).toContain('id="passkey-login"');
      return new SignIn(browser, uidFrom(step.url), csrfFrom(html));
    },
    async events(kind: string, outcome: string, credentialId: string): Promise<number> {
      const { rows } = await h.server.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM events WHERE kind = $1 AND outcome = $2 AND detail->>'credential' = $3",
        [kind, outcome, credentialId.slice(0, 16)],
      );
      return rows[0]!.n;
    },
    async storedCounter(credentialId: string): Promise<number> {
      const { rows } = await h.server.db.query<{ counter: string }>('SELECT counter FROM passkeys WHERE id = $1', [credentialId]);
      return Number(rows[0]!.counter);
    },
  };
  beforeAll(async () => {
    h.server = await startTestServer({ env });
    h.clientId = (await h.server.addClient({ name: 'Passkey test app', redirectUris: [redirectUri] })).clientId;
  });
  afterAll(() => h.server?.stop());
  return h;
}

/** One pending sign-in: its browser, interaction and CSRF token. */
class SignIn {
  constructor(
    readonly browser: TestBrowser,
    readonly uid: string,
    readonly csrf: string,
  ) {}

  get authenticator() {
    return this.browser.authenticator;
  }

  async options(): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const res = await this.browser.postJson(`/interaction/${this.uid}/passkey/login/options`, {}, this.csrf);
    expect(res.status).toBe(200);
    return (await res.json()) as PublicKeyCredentialRequestOptionsJSON;
  }

  submit(assertion: unknown): Promise<Response> {
    return this.browser.postJson(`/interaction/${this.uid}/passkey/login`, assertion, this.csrf);
  }

  /** Resumes the authorization as the page would after a sign-in; returns what the browser lands on. */
  async resume(): Promise<{ url: string; html: string }> {
    const step = await this.browser.navigate(`/auth/${this.uid}`);
    return { url: step.url, html: step.url.includes('/interaction/') ? await step.response.text() : '' };
  }

  /** Nobody was signed in: resuming starts the sign-in page over. */
  async expectSignedOut(): Promise<void> {
    const { url, html } = await this.resume();
    expect(url).toContain('/interaction/');
    expect(html).toContain('id="passkey-login"');
  }
}

async function expectRefused(res: Response, status = 400, error = 'passkey_failed'): Promise<void> {
  expect(res.status).toBe(status);
  expect(await res.json()).toEqual({ error, error_description: expect.any(String) });
}

/**
 * `owner` was signed in: resuming completes the authorization, since the owner consented to this app when signing
 * up (consent is remembered per owner and app), so the app receives a code.
 */
async function expectSignedIn(res: Response, s: SignIn, owner: SoftwareAuthenticator): Promise<void> {
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ redirectTo: expect.stringContaining(`/auth/${s.uid}`) });
  expect(owner.credentials).toHaveLength(1);
  const { url } = await s.resume();
  expect(url.startsWith(`${redirectUri}?`)).toBe(true);
  expect(new URL(url).searchParams.get('code')).toEqual(expect.any(String));
  expect(new URL(url).searchParams.get('error')).toBeNull();
}

describe('passkey sign-in under attack', () => {
  const h = harness();
  /** The owner whose passkey the attacks aim at, and a second owner for cross-account cases. */
  let alice: SoftwareAuthenticator;
  let bob: SoftwareAuthenticator;

  beforeAll(async () => {
    alice = await h.owner();
    bob = await h.owner();
  });

  // Every case here fails on purpose; the failure limit (E8, tested below on its own server) would otherwise turn
  // later cases' 400s into 429s.
  beforeEach(async () => {
    await h.server.db.query('DELETE FROM rate_limits');
  });

  it('signs the owner in with an honest assertion (the baseline every attack below differs from)', async () => {
    const s = await h.signInPage(alice);
    await expectSignedIn(await s.submit(s.authenticator.authenticate(await s.options())), s, s.authenticator);
  });

  describe('E2: challenges are single-use, short-lived and bound to their interaction', () => {
    it('refuses the same assertion posted twice (E2)', async () => {
      const s = await h.signInPage(alice);
      const assertion = s.authenticator.authenticate(await s.options());
      const first = await s.submit(assertion);
      expect(first.status).toBe(200);
      await expectRefused(await s.submit(assertion));
      // Also after the interaction asked for a fresh challenge: the old assertion does not answer it.
      await s.options();
      await expectRefused(await s.submit(assertion));
    });

    it('refuses a captured assertion replayed into a new interaction that has its own live challenge (E2)', async () => {
      const owner = await h.signInPage(alice);
      const assertion = owner.authenticator.authenticate(await owner.options());
      expect((await owner.submit(assertion)).status).toBe(200);

      const thief = await h.signInPage();
      await thief.options();
      await expectRefused(await thief.submit(assertion));
      await thief.expectSignedOut();
    });

    it("refuses an assertion over another interaction's live, unused challenge (E2)", async () => {
      const other = await h.signInPage(alice);
      const otherOptions = await other.options();
      const s = await h.signInPage(alice);
      await s.options();
      await expectRefused(await s.submit(s.authenticator.authenticate(otherOptions)));
      await s.expectSignedOut();
    });

    it("refuses an assertion over another interaction's challenge when this one asked for none (E2)", async () => {
      const other = await h.signInPage(alice);
      const otherOptions = await other.options();
      const s = await h.signInPage(alice);
      await expectRefused(await s.submit(s.authenticator.authenticate(otherOptions)));
      await s.expectSignedOut();
    });

    it.each<[string, Tamper & { credentialId?: string }]>([
      ['a bogus signature', { badSignature: true }],
      ['a wrong origin', { origin: 'https://evil.example' }],
      ['a missing user-verification flag', { userVerified: false }],
    ])('spends the challenge on a failed attempt (%s): an honest answer to it afterwards fails too (E2)', async (_name, tamper) => {
      const s = await h.signInPage(alice);
      const options = await s.options();
      await expectRefused(await s.submit(s.authenticator.authenticate(options, tamper)));
      await expectRefused(await s.submit(s.authenticator.authenticate(options)));
      await s.expectSignedOut();
    });

    it("spends the challenge on an attempt with an unknown credential: the owner's honest answer afterwards fails (E2)", async () => {
      const s = await h.signInPage(alice);
      const options = await s.options();
      await expectRefused(await s.submit(stranger(h.server.url).authenticate(options)));
      await expectRefused(await s.submit(s.authenticator.authenticate(options)));
      await s.expectSignedOut();
    });
  });

  describe('E3: the assertion must be made for this origin, this RP and a sign-in', () => {
    const otherPort = () => `http://localhost:${Number(new URL(h.server.url).port) + 1}`;
    it.each<[string, () => Tamper]>([
      ['a foreign origin in clientDataJSON', () => ({ origin: 'https://evil.example' })],
      ['the origin of another site on the same host', () => ({ origin: otherPort() })],
      ['type webauthn.create (a registration) at sign-in', () => ({ type: 'webauthn.create' })],
      ['an unknown clientDataJSON type', () => ({ type: 'payment.get' })],
      ['the RP ID hash of another site', () => ({ rpId: 'evil.example' })],
    ])('refuses an assertion with %s (E3)', async (_name, tamper) => {
      const s = await h.signInPage(alice);
      await expectRefused(await s.submit(s.authenticator.authenticate(await s.options(), tamper())));
      await s.expectSignedOut();
    });
  });

  describe('E4: the authenticator must show presence and verification, and sign', () => {
    it.each<[string, Tamper]>([
      ['the user-presence flag missing', { userPresent: false }],
      ['the user-verification flag missing', { userVerified: false }],
      ['both flags missing', { userPresent: false, userVerified: false }],
      ['a bogus signature', { badSignature: true }],
    ])('refuses an assertion with %s (E4)', async (_name, tamper) => {
      const s = await h.signInPage(alice);
      await expectRefused(await s.submit(s.authenticator.authenticate(await s.options(), tamper)));
      await s.expectSignedOut();
    });

    it('refuses an assertion with the signature removed (E4)', async () => {
      const s = await h.signInPage(alice);
      const assertion = s.authenticator.authenticate(await s.options());
      await expectRefused(await s.submit({ ...assertion, response: { ...assertion.response, signature: '' } }));
      await s.expectSignedOut();
    });
  });

  describe('E5: the signature counter only moves forward', () => {
    /** Makes sure the stored counter is non-zero, and returns it. */
    async function nonZeroCounter(authenticator: SoftwareAuthenticator): Promise<number> {
      const id = authenticator.credentials[0]!.id;
      if ((await h.storedCounter(id)) === 0) {
        const s = await h.signInPage(authenticator);
        expect((await s.submit(s.authenticator.authenticate(await s.options()))).status).toBe(200);
      }
      const counter = await h.storedCounter(id);
      expect(counter).toBeGreaterThan(0);
      return counter;
    }

    it.each<[string, (stored: number) => number]>([
      ['equal to the stored one', (stored) => stored],
      ['lower than the stored one', (stored) => stored - 1],
      ['reset to zero', () => 0],
    ])('refuses a counter %s and records a passkey.counter_regression security event (E5)', async (_name, counter) => {
      const id = alice.credentials[0]!.id;
      const stored = await nonZeroCounter(alice);
      const before = await h.events('passkey.counter_regression', 'security', id);

      const s = await h.signInPage(alice);
      await expectRefused(
        await s.submit(s.authenticator.authenticate(await s.options(), { counter: counter(stored) })),
        400,
        'passkey_counter',
      );
      await s.expectSignedOut();
      expect(await h.events('passkey.counter_regression', 'security', id)).toBe(before + 1);
      expect(await h.storedCounter(id)).toBe(stored);
    });

    it('judges the counter only after the signature holds: a forged assertion with a stale counter is a plain failure, not a security event (E5)', async () => {
      const id = alice.credentials[0]!.id;
      const stored = await nonZeroCounter(alice);
      const before = await h.events('passkey.counter_regression', 'security', id);

      const s = await h.signInPage(alice);
      await expectRefused(await s.submit(s.authenticator.authenticate(await s.options(), { counter: stored, badSignature: true })));
      await s.expectSignedOut();
      expect(await h.events('passkey.counter_regression', 'security', id)).toBe(before);
      expect(await h.events('signin', 'failure', id)).toBeGreaterThan(0);
    });

    it("writes a failed sign-in with a registered passkey into that owner's access log", async () => {
      const id = alice.credentials[0]!.id;
      const s = await h.signInPage(alice);
      await expectRefused(await s.submit(s.authenticator.authenticate(await s.options(), { badSignature: true })));
      const { rows } = await h.server.db.query<{ account_id: string | null }>(
        "SELECT account_id FROM events WHERE kind = 'signin' AND outcome = 'failure' AND detail->>'credential' = $1 ORDER BY id DESC LIMIT 1",
        [id.slice(0, 16)],
      );
      expect(rows[0]?.account_id).toBe(alice.credentials[0]!.userHandle);
    });

    it('signs in only one of two clones that race with the same counter, and records the other as a security event (E5)', async () => {
      const id = alice.credentials[0]!.id;
      const next = (await nonZeroCounter(alice)) + 1;
      const before = await h.events('passkey.counter_regression', 'security', id);
      const [one, two] = [await h.signInPage(alice), await h.signInPage(alice)];
      const [a, b] = [
        one.authenticator.authenticate(await one.options(), { counter: next }),
        two.authenticator.authenticate(await two.options(), { counter: next }),
      ];
      const answers = await Promise.all([one.submit(a), two.submit(b)]);
      expect(answers.map((r) => r.status).sort()).toEqual([200, 400]);
      const loser = answers[0].status === 400 ? answers[0] : answers[1];
      await expectRefused(loser, 400, 'passkey_counter');
      await (answers[0].status === 400 ? one : two).expectSignedOut();
      expect(await h.events('passkey.counter_regression', 'security', id)).toBe(before + 1);
      expect(await h.storedCounter(id)).toBe(next);
    });
  });

  describe('E6: the credential must be registered here, still exist, and belong to the account it names', () => {
    it('refuses a passkey the server never saw (E6)', async () => {
      const s = await h.signInPage(stranger(h.server.url));
      await expectRefused(await s.submit(s.authenticator.authenticate(await s.options())));
      await s.expectSignedOut();
    });

    it('refuses a deleted passkey (E6)', async () => {
      const carol = await h.owner();
      const { rowCount } = await h.server.db.query('DELETE FROM passkeys WHERE id = $1', [carol.credentials[0]!.id]);
      expect(rowCount).toBe(1);
      const s = await h.signInPage(carol);
      await expectRefused(await s.submit(s.authenticator.authenticate(await s.options())));
      await s.expectSignedOut();
    });

    it("refuses a passkey whose userHandle names another owner's account (E6)", async () => {
      const s = await h.signInPage(alice);
      const assertion = s.authenticator.authenticate(await s.options(), { userHandle: bob.credentials[0]!.userHandle });
      await expectRefused(await s.submit(assertion));
      await s.expectSignedOut();
    });

    it('refuses a passkey whose userHandle names no account (E6)', async () => {
      const s = await h.signInPage(alice);
      const assertion = s.authenticator.authenticate(await s.options(), { userHandle: randomBytes(16).toString('base64url') });
      await expectRefused(await s.submit(assertion));
      await s.expectSignedOut();
    });

    it("refuses another owner's signature presented under this owner's credential id and userHandle (E6)", async () => {
      const s = await h.signInPage(bob);
      const signed = s.authenticator.authenticate(await s.options());
      const target = alice.credentials[0]!;
      const forged: AuthenticationResponseJSON = {
        ...signed,
        id: target.id,
        rawId: target.id,
        response: { ...signed.response, userHandle: target.userHandle },
      };
      const before = await h.events('passkey.counter_regression', 'security', target.id);
      await expectRefused(await s.submit(forged));
      await s.expectSignedOut();
      expect(await h.events('passkey.counter_regression', 'security', target.id)).toBe(before);
    });
  });
});

describe('passkey challenges expire (CHALLENGE_TTL=1)', () => {
  const h = harness({ CHALLENGE_TTL: '1' });
  let owner: SoftwareAuthenticator;

  beforeAll(async () => {
    owner = await h.owner();
  });

  it('signs in with an answer given at once (the baseline)', async () => {
    const s = await h.signInPage(owner);
    await expectSignedIn(await s.submit(s.authenticator.authenticate(await s.options())), s, s.authenticator);
  });

  it('refuses an honest assertion over a challenge that has expired (E2)', async () => {
    const s = await h.signInPage(owner);
    const assertion = s.authenticator.authenticate(await s.options());
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await expectRefused(await s.submit(assertion));
    await s.expectSignedOut();
  });
});

describe('passkey failures are rate limited', () => {
  const h = harness();
  let owner: SoftwareAuthenticator;

  beforeAll(async () => {
    owner = await h.owner();
  });

  it('answers 429 once one IP failed ten sign-ins in the window, even to the honest passkey (E8)', async () => {
    for (let attempt = 1; attempt <= 9; attempt++) {
      const s = await h.signInPage(owner);
      await expectRefused(await s.submit(s.authenticator.authenticate(await s.options(), { badSignature: true })));
    }
    // The tenth failure, and an honest answer to a challenge issued before the limit was reached.
    const s = await h.signInPage(owner);
    const options = await s.options();
    const honest = s.authenticator.authenticate(options);
    await expectRefused(await s.submit(s.authenticator.authenticate(options, { badSignature: true })));
    await expectRefused(await s.submit(honest), 429, 'too_many_attempts');

    const next = await h.signInPage(owner);
    for (const kind of ['login', 'register']) {
      await expectRefused(
        await next.browser.postJson(`/interaction/${next.uid}/passkey/${kind}/options`, {}, next.csrf),
        429,
        'too_many_attempts',
      );
    }
    await s.expectSignedOut();
    await next.expectSignedOut();
  });
});

/** An authenticator holding a passkey for this RP that was never registered with the server. */
function stranger(origin: string): SoftwareAuthenticator {
  const authenticator = new SoftwareAuthenticator({ origin, rpId: new URL(origin).hostname });
  authenticator.register({
    rp: { id: new URL(origin).hostname, name: 'oauth3' },
    user: { id: randomBytes(16).toString('base64url'), name: 'stranger', displayName: 'stranger' },
    challenge: randomBytes(32).toString('base64url'),
    pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
  });
  return authenticator;
}

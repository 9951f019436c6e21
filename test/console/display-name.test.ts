import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestBrowser, csrfFrom, uidFrom } from '../helpers/browser.js';
import { Owner } from '../helpers/owner.js';
import { DisplayName, nameOf } from '../../src/accounts/display-name.js';

/**
 * The name an owner goes by: typed at sign-up (optional, trimmed, at most 64 characters), changed on the profile page,
 * and shown instead of an account id wherever a page says who is signed in.
 */
describe('display name', () => {
  let server: TestServer;
  beforeAll(async () => {
    // The operator's name for the service: a passkey made without a name of the owner's is listed under it.
    server = await startTestServer({ env: { RP_NAME: 'Acme Sign-in' } });
  });
  afterAll(() => server?.stop());

  /**
   * Starts a sign-up through the passkey page's JSON calls, the typed name (`extra`) sent with the options as passkey.js
   * does; `send` posts the new passkey with extra fields.
   */
  async function signUp(extra: Record<string, unknown> = {}) {
    const browser = new TestBrowser(server.url);
    const step = await browser.navigate('/console');
    const uid = uidFrom(step.url);
    const csrf = csrfFrom(await step.response.text());
    const options = (await (
      await browser.postJson(`/interaction/${uid}/passkey/register/options`, extra, csrf)
    ).json()) as PublicKeyCredentialCreationOptionsJSON;
    const credential = browser.authenticator.register(options);
    const send = (body: Record<string, unknown>) =>
      browser.postJson(`/interaction/${uid}/passkey/register`, { ...credential, ...body }, csrf);
    return { browser, send, options, uid, csrf };
  }

  it('lists a new passkey under the name typed at sign-up, trimmed; without one under "<RP_NAME> account"', async () => {
    const named = await signUp({ display_name: '  Ada \t Lovelace  ' });
    expect(named.options.user.displayName).toBe('Ada Lovelace');
    expect(named.options.rp.name).toBe('Acme Sign-in');
    expect((await named.send({ display_name: '  Ada \t Lovelace  ' })).status).toBe(200);

    const unnamed = await signUp();
    expect(unnamed.options.user.displayName).toBe('Acme Sign-in account');
    expect((await signUp({ display_name: '   ' })).options.user.displayName).toBe('Acme Sign-in account');
    // Never the account id, which is the user handle.
    expect(unnamed.options.user.displayName).not.toContain(unnamed.options.user.id.slice(0, 8));
  });

  it('refuses options for a name that cannot be used, issuing no challenge, and gives them for the corrected name', async () => {
    const browser = new TestBrowser(server.url);
    const step = await browser.navigate('/console');
    const uid = uidFrom(step.url);
    const csrf = csrfFrom(await step.response.text());
    const options = (body: Record<string, unknown>) => browser.postJson(`/interaction/${uid}/passkey/register/options`, body, csrf);
    const bad = await options({ display_name: 'bell\u0007' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'invalid_request', error_description: 'A name is one line of ordinary characters.' });
    expect((await (await options({ display_name: 'x'.repeat(65) })).json()) as unknown).toMatchObject({ error: 'invalid_request' });
    const good = await options({ display_name: 'Bell' });
    expect(good.status).toBe(200);
    expect(((await good.json()) as PublicKeyCredentialCreationOptionsJSON).user.displayName).toBe('Bell');
  });

  it('lists a passkey added from the console under the name the owner goes by now: display name, else username, else "<RP_NAME> account"', async () => {
    const owner = await Owner.signIn(server);
    const displayNameOf = async () =>
      ((await (await owner.api.send('POST', '/console/api/passkeys/options', {})).json()) as PublicKeyCredentialCreationOptionsJSON).user
        .displayName;
    expect(await displayNameOf()).toBe('Acme Sign-in account');
    expect((await owner.api.send('PATCH', '/console/api/profile', { username: 'grace_h' })).status).toBe(200);
    expect(await displayNameOf()).toBe('grace_h');
    expect((await owner.api.send('PATCH', '/console/api/profile', { display_name: ' Grace  Hopper ' })).status).toBe(200);
    expect(await displayNameOf()).toBe('Grace Hopper');
  });

  it('keeps the name given at sign-up, trimmed, and greets the owner with it instead of an account id', async () => {
    const { browser, send } = await signUp();
    const res = await send({ display_name: '  Ada \t Lovelace  ' });
    expect(res.status).toBe(200);
    const overview = await browser.navigate(((await res.json()) as { redirectTo: string }).redirectTo);
    const page = await overview.response.text();
    expect(page).toContain('Signed in as <strong>Ada Lovelace</strong>');
    const accountId = browser.authenticator.credentials[0]!.userHandle;
    expect(page).not.toContain(accountId.slice(0, 8));
    const { rows } = await server.db.query<{ display_name: string }>('SELECT display_name FROM accounts WHERE id = $1', [accountId]);
    expect(rows[0]!.display_name).toBe('Ada Lovelace');
  });

  it('refuses a name over 64 characters before spending the passkey challenge, so the owner can correct it', async () => {
    const { browser, send } = await signUp();
    const tooLong = await send({ display_name: 'é'.repeat(65) });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toEqual({ error: 'invalid_request', error_description: 'A name has at most 64 characters.' });
    expect(
      (await server.db.query('SELECT 1 FROM accounts WHERE id = $1', [browser.authenticator.credentials[0]!.userHandle])).rows,
    ).toEqual([]);
    const retried = await send({ display_name: 'é'.repeat(64) });
    expect(retried.status).toBe(200);
  });

  it('signs up without a name, and then no page names the account by its id', async () => {
    const { browser, send } = await signUp();
    const res = await send({});
    expect(res.status).toBe(200);
    const page = await (await browser.navigate(((await res.json()) as { redirectTo: string }).redirectTo)).response.text();
    expect(page).toContain('Add your name');
    expect(page).not.toContain(browser.authenticator.credentials[0]!.userHandle.slice(0, 8));
  });

  it('is changed and cleared on the profile, which logs it like any other field', async () => {
    const owner = await Owner.signIn(server);
    const set = await owner.api.send('PATCH', '/console/api/profile', { display_name: ' Grace  Hopper ' });
    expect(set.status).toBe(200);
    expect(await set.json()).toMatchObject({ display_name: 'Grace Hopper', changed: ['display_name'] });
    expect(await (await owner.browser.request('/console')).text()).toContain('Hello, Grace Hopper');
    // Names are not usernames: two owners may share one.
    const other = await Owner.signIn(server);
    expect((await other.api.send('PATCH', '/console/api/profile', { display_name: 'Grace Hopper' })).status).toBe(200);

    const bad = await owner.api.send('PATCH', '/console/api/profile', { display_name: 'bell\u0007' });
    expect(bad.status).toBe(400);
    const form = await owner.browser.postForm('/console/profile', {
      csrf: owner.csrf,
      display_name: 'x'.repeat(65),
      username: '',
      email: '',
      phone: '',
      wallet_address: '',
    });
    expect(form.status).toBe(400);
    expect(await form.text()).toMatch(/id="profile-display-name-error">A name has at most 64 characters/);

    const cleared = await owner.api.send('PATCH', '/console/api/profile', { display_name: '   ' });
    expect(await cleared.json()).toMatchObject({ display_name: null });
    expect(await (await owner.browser.request('/console')).text()).toContain('Your oauth3 console');
  });
});

describe('DisplayName', () => {
  it('trims, makes any run of spaces or line breaks one space, turns empty into no name, and refuses control characters and more than 64 characters', () => {
    expect(DisplayName.parse('  Ada \n  L. ')).toBe('Ada L.');
    expect(DisplayName.parse('   ')).toBeNull();
    expect(DisplayName.parse('李小龍 🐉')).toBe('李小龍 🐉');
    expect(DisplayName.safeParse('a\u0000b').success).toBe(false);
    expect(DisplayName.safeParse('a\u202eb').success).toBe(false);
    expect(DisplayName.safeParse('🐉'.repeat(64)).success).toBe(true);
    expect(DisplayName.safeParse('🐉'.repeat(65)).success).toBe(false);
    expect(DisplayName.safeParse(42).success).toBe(false);
  });

  it('names an owner by display name, else username, else not at all', () => {
    expect(nameOf({ displayName: 'Ada', username: 'ada_l' })).toBe('Ada');
    expect(nameOf({ displayName: null, username: 'ada_l' })).toBe('ada_l');
    expect(nameOf({ displayName: null, username: null })).toBeUndefined();
  });
});

import { Owner } from '../helpers/owner.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { keccak256 } from '../../src/accounts/keccak.js';
import { checksummed, isEthereumAddress } from '../../src/accounts/wallet-address.js';

const EMPTY = { display_name: null, username: null, email: null, phone: null, wallet_address: null };
// EIP-55's own examples: one checksummed, and the same address in lower case.
const CHECKSUMMED = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
const BAD_CHECKSUM = '0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';

describe('console profile', () => {
  let server: TestServer;
  let alice: Owner;
  let bob: Owner;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await Owner.signIn(server);
    bob = await Owner.signIn(server);
  });
  afterAll(() => server?.stop());

  const profileOf = async (owner: Owner): Promise<unknown> => (await owner.api.get('/console/api/profile')).json();
  const profileEvents = async (owner: Owner) =>
    (
      await server.db.query<{ detail: { fields: string[] } }>(
        "SELECT detail FROM events WHERE account_id = $1 AND kind = 'profile.updated' ORDER BY id",
        [owner.accountId],
      )
    ).rows.map((r) => r.detail);

  it('starts empty and reads back as JSON', async () => {
    const res = await bob.api.get('/console/api/profile');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ...EMPTY, updated_at: null });
  });

  it('saves every field, keeps the wallet address as typed, and logs which fields changed without their values', async () => {
    const res = await alice.api.send('PATCH', '/console/api/profile', {
      username: 'Alice_1',
      email: 'alice@example.com',
      phone: '+44 20 7946 0958',
      wallet_address: CHECKSUMMED,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ username: 'Alice_1', email: 'alice@example.com', phone: '+442079460958', wallet_address: CHECKSUMMED });
    expect(body.changed).toEqual(['username', 'email', 'phone', 'wallet_address']);
    expect(await profileOf(alice)).toMatchObject({ username: 'Alice_1', wallet_address: CHECKSUMMED, updated_at: expect.any(String) });

    const events = await profileEvents(alice);
    expect(events.at(-1)).toEqual({ fields: ['username', 'email', 'phone', 'wallet_address'] });
    expect(JSON.stringify(events)).not.toContain('alice@example.com');
    expect(JSON.stringify(events)).not.toContain('7946');
  });

  it('logs only the fields that really changed, and nothing when nothing did', async () => {
    const before = (await profileEvents(alice)).length;
    await alice.api.send('PATCH', '/console/api/profile', { email: 'alice@example.com', phone: '+15550000001' });
    await alice.api.send('PATCH', '/console/api/profile', { phone: '+15550000001' });
    const events = await profileEvents(alice);
    expect(events.slice(before)).toEqual([{ fields: ['phone'] }]);
  });

  it('clears a field with null or an empty string and leaves absent fields alone', async () => {
    const res = await alice.api.send('PATCH', '/console/api/profile', { email: null, phone: '' });
    expect(res.status).toBe(200);
    expect(await profileOf(alice)).toMatchObject({ username: 'Alice_1', email: null, phone: null, wallet_address: CHECKSUMMED });
  });

  it('accepts a lower-case wallet address as well as a checksummed one', async () => {
    const res = await alice.api.send('PATCH', '/console/api/profile', { wallet_address: CHECKSUMMED.toLowerCase() });
    expect(res.status).toBe(200);
    expect(((await profileOf(alice)) as { wallet_address: string }).wallet_address).toBe(CHECKSUMMED.toLowerCase());
  });

  it.each([
    ['a username that is too short', { username: 'ab' }],
    ['a username that is too long', { username: 'a'.repeat(33) }],
    ['a username with a space', { username: 'alice smith' }],
    ['a username with markup', { username: '<b>x</b>' }],
    ['a number for a username', { username: 12345 }],
    ['a number for an email', { email: 42 }],
    ['an object for an email', { email: { address: 'a@example.com' } }],
    ['an email without @', { email: 'alice.example.com' }],
    ['an email that is too long', { email: `${'a'.repeat(250)}@example.com` }],
    ['a phone without +', { phone: '4155550123' }],
    ['a phone that is too short', { phone: '+1234567' }],
    ['a phone that is too long', { phone: '+1234567890123456' }],
    ['a phone with letters', { phone: '+1415CALLNOW' }],
    ['a boolean for a phone', { phone: true }],
    ['a wallet address that is too short', { wallet_address: '0x1234' }],
    ['a wallet address without 0x', { wallet_address: '5aaeb6053f3e94c9b9a09f33669435e7ef1beaed' }],
    ['a wallet address with non-hex digits', { wallet_address: '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg' }],
    ['a mixed-case wallet address with a wrong checksum', { wallet_address: BAD_CHECKSUM }],
    ['an unknown field', { wallet: CHECKSUMMED }],
    ['an array instead of an object', [{ username: 'alice' }]],
  ])('refuses %s with 400 and changes nothing', async (_name, body) => {
    const before = await profileOf(alice);
    const res = await alice.api.send('PATCH', '/console/api/profile', body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
    expect(await profileOf(alice)).toEqual(before);
  });

  it('refuses a username another owner has, in any case (409), but lets its owner change its case', async () => {
    expect((await bob.api.send('PATCH', '/console/api/profile', { username: 'bob.builder' })).status).toBe(200);
    const taken = await alice.api.send('PATCH', '/console/api/profile', { username: 'BOB.Builder' });
    expect(taken.status).toBe(409);
    expect(await taken.json()).toMatchObject({ error: 'username_taken' });
    expect(await profileOf(alice)).toMatchObject({ username: 'Alice_1' });

    const recase = await bob.api.send('PATCH', '/console/api/profile', { username: 'Bob.Builder' });
    expect(recase.status).toBe(200);
    expect(await profileOf(bob)).toMatchObject({ username: 'Bob.Builder' });
  });

  it('saves from the page form and comes back with a notice', async () => {
    const res = await bob.browser.postForm('/console/profile', {
      csrf: bob.csrf,
      username: 'Bob.Builder',
      email: 'bob@example.org',
      phone: '+14155550123',
      wallet_address: '',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/profile?done=saved');
    const page = await (await bob.browser.request('/console/profile?done=saved')).text();
    expect(page).toContain('Profile saved.');
    expect(page).toContain('value="bob@example.org"');
    expect(await profileOf(bob)).toMatchObject({ email: 'bob@example.org', phone: '+14155550123', wallet_address: null });
  });

  it('shows a form error beside its field (aria-describedby), keeps what was typed inert, and saves nothing', async () => {
    const before = await profileOf(bob);
    const res = await bob.browser.postForm('/console/profile', {
      csrf: bob.csrf,
      username: 'Bob.Builder',
      email: '"><script>alert(1)</script>',
      phone: '555',
      wallet_address: '',
    });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toMatch(/<input id="profile-phone"[^>]*aria-describedby="profile-phone-error profile-phone-hint"[^>]*aria-invalid="true"/);
    expect(page).toMatch(/<p class="field-error" id="profile-phone-error">[^<]*E\.164/);
    expect(page).toContain('id="profile-email-error"');
    expect(page).not.toContain('<script>alert(1)</script>');
    expect(page).toContain('&quot;&gt;&lt;script&gt;');
    expect(await profileOf(bob)).toEqual(before);
  });

  it('shows a taken username beside the username field on the page (409)', async () => {
    const res = await alice.browser.postForm('/console/profile', {
      csrf: alice.csrf,
      username: 'bob.BUILDER',
      email: '',
      phone: '',
      wallet_address: '',
    });
    expect(res.status).toBe(409);
    expect(await res.text()).toMatch(/id="profile-username-error">That username is already taken/);
  });

  it('serves a page with a label and a format hint for every field, and no inline script or style', async () => {
    const res = await alice.browser.request('/console/profile');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const page = await res.text();
    for (const id of ['profile-username', 'profile-email', 'profile-phone', 'profile-wallet-address']) {
      expect(page).toContain(`<label for="${id}">`);
      expect(page).toContain(`id="${id}-hint"`);
    }
    expect(page).toContain('E.164');
    expect(page).toContain('EIP-55');
    expect(page).not.toMatch(/\sstyle=/);
    expect(page).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(page).not.toMatch(/\son[a-z]+=/);
  });

  it('answers 401 without a session, and sends a signed-out browser to sign in', async () => {
    expect((await fetch(`${server.url}/console/api/profile`)).status).toBe(401);
    const patch = await fetch(`${server.url}/console/api/profile`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', origin: server.url },
      body: JSON.stringify({ username: 'ghost' }),
    });
    expect(patch.status).toBe(401);
    const page = await fetch(`${server.url}/console/profile`, { redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toContain('/console/login');
  });

  it("refuses a change without the CSRF token, with another session's token, or from a foreign origin (403)", async () => {
    const before = await profileOf(alice);
    const noToken = await alice.api.send('PATCH', '/console/api/profile', { username: 'hijacked' }, { csrf: null });
    const bobsToken = await alice.api.send('PATCH', '/console/api/profile', { username: 'hijacked' }, { csrf: bob.csrf });
    const foreign = await alice.api.send('PATCH', '/console/api/profile', { username: 'hijacked' }, { origin: 'https://evil.example' });
    const noOrigin = await alice.api.send('PATCH', '/console/api/profile', { username: 'hijacked' }, { origin: null });
    const form = await alice.browser.postForm('/console/profile', { username: 'hijacked', email: '', phone: '', wallet_address: '' });
    for (const res of [noToken, bobsToken, foreign, noOrigin, form]) expect(res.status).toBe(403);
    expect(await profileOf(alice)).toEqual(before);
  });
});

describe('wallet address checks', () => {
  it('computes Keccak-256 as Ethereum does (not NIST SHA3-256)', () => {
    const hex = (text: string) => Buffer.from(keccak256(Buffer.from(text))).toString('hex');
    expect(hex('')).toBe('c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470');
    expect(hex('abc')).toBe('4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45');
  });

  it.each([
    '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
    '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
    '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
    '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
  ])('accepts the EIP-55 example %s, its lower-case form, and refuses one flipped letter', (address) => {
    expect(checksummed(address.toLowerCase())).toBe(address);
    expect(isEthereumAddress(address)).toBe(true);
    expect(isEthereumAddress(address.toLowerCase())).toBe(true);
    const i = [...address].findIndex((c, n) => n > 1 && /[a-f]/i.test(c));
    const flipped =
      address.slice(0, i) +
      (address[i] === address[i]!.toUpperCase() ? address[i].toLowerCase() : address[i]!.toUpperCase()) +
      address.slice(i + 1);
    expect(isEthereumAddress(flipped)).toBe(false);
  });
});

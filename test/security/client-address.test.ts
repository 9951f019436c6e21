import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TestBrowser } from '../helpers/browser.js';
import { clientAddressOf, proxyTrust } from '../../src/http/client-address.js';

/**
 * The client's address comes from our own proxies only (docs/threat-model.md J3). Every test server listens on
 * 127.0.0.1, so the test itself is the TCP peer: "the proxy" that appends the address it heard from to
 * X-Forwarded-For. Whatever a client writes to the left of that cannot choose the address a per-address limit keys
 * on, nor the address oauth3 records.
 */

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** The proxies' view: the client wrote `forged`, the proxies appended `appended` (nearest last). */
const xff = (forged: string[], ...appended: string[]) => [...forged, ...appended].join(', ');

async function register(server: TestServer, forwardedFor: string | undefined, name: string): Promise<number> {
  const res = await fetch(`${server.url}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) },
    body: JSON.stringify({
      client_name: name,
      redirect_uris: ['https://app.example/cb'],
      token_endpoint_auth_method: 'client_secret_post',
    }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The addresses the open-registration limit counted, with their counts. */
async function registrationKeys(server: TestServer): Promise<Record<string, number>> {
  const { rows } = await server.db.query<{ key: string; count: number }>(
    "SELECT key, count FROM rate_limits WHERE key LIKE 'registration:%' ORDER BY key",
  );
  return Object.fromEntries(rows.map((r) => [r.key.slice('registration:'.length), Number(r.count)]));
}

/** The address oidc-provider recorded for a device authorization request (shown on the owner's confirmation page). */
async function recordedDeviceAddress(server: TestServer, forwardedFor: string): Promise<string> {
  const { clientId } = await server.addClient({ name: 'Address probe', public: true, grantTypes: [DEVICE_GRANT], redirectUris: [] });
  const res = await fetch(`${server.url}/device/auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': forwardedFor },
    body: new URLSearchParams({ client_id: clientId, scope: 'openid' }),
  });
  expect(res.status).toBe(200);
  const { user_code } = (await res.json()) as { user_code: string };
  const browser = new TestBrowser(server.url);
  const form = await (await browser.request(`/device?user_code=${encodeURIComponent(user_code)}`)).text();
  const fields = Object.fromEntries([...form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
  const confirm = await (await browser.postForm('/device', fields)).text();
  const shown = /requested from <code>([^<]+)<\/code>/.exec(confirm);
  expect(shown).not.toBeNull();
  return shown![1]!;
}

describe('the client address from X-Forwarded-For (threat model J3)', () => {
  const hops = (n: number) => proxyTrust(n === 0 ? false : n);
  const ranges = (...cidrs: string[]) => proxyTrust(cidrs);

  it.each([
    ['no proxy: the peer, whatever the header says', '127.0.0.1', '6.6.6.6', hops(0), '127.0.0.1'],
    ['one hop: the entry our proxy appended, not the leftmost', '127.0.0.1', '6.6.6.6, 7.7.7.7, 203.0.113.7', hops(1), '203.0.113.7'],
    ['one hop, no header: the peer', '10.0.0.2', undefined, hops(1), '10.0.0.2'],
    ['two hops: load balancer then ingress', '10.0.0.2', '6.6.6.6, 203.0.113.7, 10.0.0.9', hops(2), '203.0.113.7'],
    ['two hops, a shorter chain than configured: the leftmost entry', '10.0.0.2', '203.0.113.7', hops(2), '203.0.113.7'],
    ['ranges: the rightmost address outside them', '10.0.0.2', '6.6.6.6, 203.0.113.7, 10.1.2.3', ranges('10.0.0.0/8'), '203.0.113.7'],
    ['ranges, a peer outside them: the peer, the header ignored', '198.51.100.4', '6.6.6.6', ranges('10.0.0.0/8'), '198.51.100.4'],
    ['ranges, IPv6 proxies', '2001:db8::1', '6.6.6.6, 2001:db8:beef::7', ranges('2001:db8::/64'), '2001:db8:beef::7'],
    ['an IPv4-mapped peer is its IPv4 address', '::ffff:10.0.0.2', '203.0.113.7', ranges('10.0.0.0/8'), '203.0.113.7'],
    ['a port our proxy appended is dropped', '10.0.0.2', '6.6.6.6, 203.0.113.7:51234', hops(1), '203.0.113.7'],
    ['a bracketed IPv6 address with a port', '10.0.0.2', '[2001:db8::7]:443', hops(1), '2001:db8::7'],
    ['garbage where a proxy wrote: the nearest proxy', '10.0.0.2', '6.6.6.6, not-an-address', hops(1), '10.0.0.2'],
    ['a hex IPv4 form is not an address a proxy writes', '10.0.0.2', '0x7f.1', hops(1), '10.0.0.2'],
    ['every hop a proxy: the leftmost', '10.0.0.2', '10.0.0.7, 10.0.0.8', ranges('10.0.0.0/8'), '10.0.0.7'],
  ])('%s', (_case, peer, forwardedFor, trust, expected) => {
    expect(clientAddressOf(peer, forwardedFor, trust)).toBe(expected);
  });
});

describe.each(backends())('per-address limits behind one proxy (TRUST_PROXY=true) on %s storage (J3)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend, env: { TRUST_PROXY: 'true', REGISTRATION: 'open', REGISTRATION_PER_HOUR: '2' } });
  });
  afterAll(() => server?.stop());

  it('keys open registration on the address the proxy appended, whatever the client wrote before it', async () => {
    expect(await register(server, xff(['6.6.6.1'], '203.0.113.7'), 'First')).toBe(201);
    expect(await register(server, xff(['6.6.6.2', '6.6.6.3'], '203.0.113.7'), 'Second')).toBe(201);
    expect(await register(server, xff(['6.6.6.4'], '203.0.113.7'), 'Third')).toBe(429);
    // Another client behind the same proxy has its own budget.
    expect(await register(server, xff(['203.0.113.7'], '198.51.100.20'), 'Other client')).toBe(201);
    expect(await registrationKeys(server)).toEqual({ '203.0.113.7': 3, '198.51.100.20': 1 });
  });

  it("records the address the proxy appended (the device's address on the owner's confirmation page)", async () => {
    expect(await recordedDeviceAddress(server, xff(['6.6.6.6'], '203.0.113.9'))).toBe('203.0.113.9');
  });
});

describe('per-address limits behind a load balancer and an ingress (TRUST_PROXY=2, J3)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: '2', REGISTRATION: 'open', REGISTRATION_PER_HOUR: '1' } });
  });
  afterAll(() => server?.stop());

  it('keys on the second entry from the right, not on anything the client wrote', async () => {
    expect(await register(server, xff(['6.6.6.1'], '203.0.113.7', '10.0.0.9'), 'First')).toBe(201);
    expect(await register(server, xff(['6.6.6.2'], '203.0.113.7', '10.0.0.9'), 'Second')).toBe(429);
    expect(await register(server, xff([], '203.0.113.7', '10.0.0.10'), 'Third')).toBe(429);
    expect(await registrationKeys(server)).toEqual({ '203.0.113.7': 3 });
  });
});

describe('per-address limits behind listed proxies (TRUST_PROXY as CIDR ranges, J3)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: '127.0.0.0/8,10.0.0.0/8', REGISTRATION: 'open', REGISTRATION_PER_HOUR: '1' } });
  });
  afterAll(() => server?.stop());

  it("keys open registration on the rightmost address outside the proxies' ranges", async () => {
    expect(await register(server, xff(['6.6.6.1'], '203.0.113.7', '10.1.2.3'), 'First')).toBe(201);
    expect(await register(server, xff(['6.6.6.2'], '203.0.113.7'), 'Second')).toBe(429);
    expect(await registrationKeys(server)).toEqual({ '203.0.113.7': 2 });
  });

  it('counts wrong device user codes against that address, whatever the client wrote', async () => {
    const browser = new TestBrowser(server.url);
    const guess = async (forged: string) => {
      const headers = { 'x-forwarded-for': xff([forged], '198.51.100.30') };
      const form = await (await browser.request('/device', { headers })).text();
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(form)![1]!;
      const res = await browser.request('/device', {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ xsrf, user_code: 'BCDF-GHJK' }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    for (let i = 0; i < 10; i++) expect(await guess(`6.6.7.${i}`)).toBe(200);
    expect(await guess('6.6.7.99')).toBe(429);
    const { rows } = await server.db.query<{ key: string }>("SELECT key FROM rate_limits WHERE key LIKE 'user-code-failures:%'");
    expect(rows.map((r) => r.key)).toEqual(['user-code-failures:198.51.100.30']);
  });
});

describe('a request from a peer outside the listed proxies (J3)', () => {
  let server: TestServer;
  beforeAll(async () => {
    // The test connects from 127.0.0.1, which is not one of these proxies.
    server = await startTestServer({ env: { TRUST_PROXY: '10.0.0.0/8', REGISTRATION: 'open', REGISTRATION_PER_HOUR: '1' } });
  });
  afterAll(() => server?.stop());

  it('has its forwarded headers ignored: the limit keys on the peer itself', async () => {
    expect(await register(server, '203.0.113.7', 'First')).toBe(201);
    expect(await register(server, '198.51.100.1', 'Second')).toBe(429);
    expect(await registrationKeys(server)).toEqual({ '127.0.0.1': 2 });
  });

  it("has the peer's address recorded, not the one it forwarded", async () => {
    expect(await recordedDeviceAddress(server, '203.0.113.9')).toBe('127.0.0.1');
  });
});

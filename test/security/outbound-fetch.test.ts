import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { closeServer } from '../fakes/local-server.js';
import { isPublicAddress, outboundFetch } from '../../src/provider/outbound-fetch.js';
import { selfSign } from '../helpers/self-signed.js';

/**
 * A fetch to a URL a stranger chose (client ID metadata documents, client `jwks_uri`) reaches public addresses only,
 * in every encoding of a private one (docs/threat-model.md J4).
 */

/** A deterministic stream of numbers (mulberry32), so the property tests draw the same addresses on every run. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Non-public IPv4 ranges oauth3 must never reach, by network and prefix length. */
const PRIVATE_V4: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
const PUBLIC_V4 = ['93.184.215.14', '1.1.1.1', '8.8.4.4', '140.82.112.3', '151.101.1.69'];

const toInt = (dotted: string) => dotted.split('.').reduce((n, o) => n * 256 + Number(o), 0);
const toDotted = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
const hex4 = (n: number) => [((n >>> 16) & 0xffff).toString(16), (n & 0xffff).toString(16)];

/** Addresses drawn at random inside each range (and its first and last address). */
function samples(count: number): string[] {
  const next = random(7);
  return PRIVATE_V4.flatMap(([net, bits]) => {
    const base = toInt(net) >>> 0;
    const size = 2 ** (32 - bits);
    return [base, base + size - 1, ...Array.from({ length: count }, () => base + Math.floor(next() * size))].map((n) => toDotted(n >>> 0));
  });
}

/** Every IPv6 way of writing an IPv4 address that oauth3 refuses whatever IPv4 address it carries. */
function embeddings(v4: string): Record<string, string> {
  const n = toInt(v4) >>> 0;
  const [hi, lo] = hex4(n);
  const [ihi, ilo] = hex4(~n >>> 0);
  return {
    'IPv4-mapped': `::ffff:${v4}`,
    'IPv4-mapped, hex': `::ffff:${hi}:${lo}`,
    'IPv4-compatible': `::${hi}:${lo}`,
    'local-use NAT64': `64:ff9b:1::${hi}:${lo}`,
    '6to4': `2002:${hi}:${lo}::1`,
    Teredo: `2001:0:4136:e378:8000:63bf:${ihi}:${ilo}`,
  };
}

/** The URL forms of an IPv4 address a URL parser still reads as that address. */
function urlForms(v4: string): string[] {
  const o = v4.split('.').map(Number);
  const n = toInt(v4) >>> 0;
  return [
    `${n}`,
    `0x${n.toString(16)}`,
    o.map((x) => `0${x.toString(8)}`).join('.'),
    o.map((x) => `0x${x.toString(16)}`).join('.'),
    `${o[0]}.${(n & 0xffffff) >>> 0}`,
  ];
}

describe('the address check for outbound fetches (threat model J4)', () => {
  it.each(samples(3))('refuses %s, and each IPv6 form that embeds it', (v4) => {
    expect(isPublicAddress(v4)).toBe(false);
    for (const [form, v6] of Object.entries(embeddings(v4))) expect([form, isPublicAddress(v6)]).toEqual([form, false]);
    // The NAT64 well-known prefix reaches the address it embeds: as private as that address.
    const [hi, lo] = hex4(toInt(v4) >>> 0);
    expect(isPublicAddress(`64:ff9b::${hi}:${lo}`)).toBe(false);
  });

  it.each(PUBLIC_V4)('accepts the public %s, and through the NAT64 well-known prefix, but no other IPv6 form of it', (v4) => {
    expect(isPublicAddress(v4)).toBe(true);
    const [hi, lo] = hex4(toInt(v4) >>> 0);
    expect(isPublicAddress(`64:ff9b::${hi}:${lo}`)).toBe(true);
    for (const v6 of Object.values(embeddings(v4))) expect(isPublicAddress(v6)).toBe(false);
  });

  it.each([
    ['::'],
    ['::1'],
    ['fe80::1'],
    ['fe80::1%eth0'],
    ['fd00::1'],
    ['fc00::1'],
    ['fec0::1'],
    ['ff02::1'],
    ['100::1'],
    ['2001:db8::1'],
    ['2001:2::1'],
    ['3fff::1'],
    ['5f00::1'],
    ['not-an-address'],
    [''],
  ])('refuses the non-public IPv6 (or no) address %s', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([['2606:4700:4700::1111'], ['2a00:1450:4001:82a::200e'], ['2620:fe::fe']])('accepts the public IPv6 address %s', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  const fetchPublic = outboundFetch({ timeoutMs: 500 });

  it.each(['127.0.0.1', '10.1.2.3', '169.254.169.254', '192.168.0.1'])('refuses every URL form of %s before connecting', async (v4) => {
    for (const host of [...urlForms(v4), ...Object.values(embeddings(v4)).map((v6) => `[${v6}]`)]) {
      await expect(fetchPublic(`https://${host}/doc.json`)).rejects.toThrow(/is not a public address/);
    }
  });
});

/**
 * Through the flow a stranger drives: an authorization request whose client_id is the URL of a metadata document on a
 * private address. The document server on 127.0.0.1 counts connections, so a refusal is seen to happen before any.
 */
describe('client metadata documents on private addresses (J4)', () => {
  let dir: string;
  let docs: https.Server;
  let port = 0;
  let connections = 0;
  let server: TestServer;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-j4-'));
    selfSign(dir);
    docs = https.createServer(
      { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) },
      (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            client_id: `https://127.0.0.1:${port}${req.url}`,
            client_name: 'Private',
            redirect_uris: ['http://127.0.0.1:8765/callback'],
            token_endpoint_auth_method: 'none',
          }),
        );
      },
    );
    docs.on('connection', () => connections++);
    await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
    port = (docs.address() as AddressInfo).port;
    server = await startTestServer({ env: { CLIENT_METADATA_TIMEOUT_MS: '1000' } });
  });
  afterAll(async () => {
    await server?.stop();
    await closeServer(docs);
    rmSync(dir, { recursive: true, force: true });
  });

  async function authorize(clientId: string) {
    const query = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: 'http://127.0.0.1:8765/callback',
      scope: 'openid',
      state: 's',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    const res = await fetch(`${server.url}/auth?${query}`, { redirect: 'manual' });
    return { status: res.status, location: res.headers.get('location'), text: await res.text() };
  }

  it.each([
    ['the loopback address in decimal', () => `https://2130706433:${port}/doc.json`],
    ['the loopback address in hex', () => `https://0x7f000001:${port}/doc.json`],
    ['the loopback address IPv4-compatible', () => `https://[::7f00:1]:${port}/doc.json`],
    ['the loopback address IPv4-mapped', () => `https://[::ffff:127.0.0.1]:${port}/doc.json`],
    ['the loopback address through NAT64', () => `https://[64:ff9b::7f00:1]:${port}/doc.json`],
    ['a name resolving to loopback', () => `https://localhost:${port}/doc.json`],
  ])('refuses %s without opening a connection', async (_case, url) => {
    const before = connections;
    const res = await authorize(url());
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.location).toBeNull();
    expect(res.text).toMatch(/invalid_client/);
    expect(connections).toBe(before);
  });
});

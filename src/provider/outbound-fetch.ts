import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { rootCertificates } from 'node:tls';
import { Agent, fetch, type RequestInit } from 'undici';

/**
 * Addresses a fetch on a client's behalf must never reach (SSRF, SECURITY.md G3): RFC 6890 special-purpose ranges —
 * private, loopback, link-local, shared, documentation, multicast, reserved — and their IPv6 counterparts. IPv4-mapped
 * and NAT64 IPv6 addresses are refused outright: a public IPv4 server is reached by its IPv4 address.
 */
// Two lists: one BlockList checks IPv4 addresses against IPv6 rules too (as ::ffff:a.b.c.d), so ::ffff:0:0/96 would
// swallow every IPv4 address.
const specialUse4 = new BlockList();
const specialUse6 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) specialUse4.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 127], ['::ffff:0:0', 96], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 23],
  ['2001:db8::', 32], ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
] as const) specialUse6.addSubnet(net, prefix, 'ipv6');

/** True for an address on the public internet. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (!family) return false;
  return family === 4 ? !specialUse4.check(address, 'ipv4') : !specialUse6.check(address, 'ipv6');
}

export class NonPublicAddress extends Error {
  readonly code = 'ENOTPUBLIC';
  constructor(host: string) {
    super(`${host} is not a public address`);
    this.name = 'NonPublicAddress';
  }
}

/**
 * DNS resolution that refuses names resolving to any non-public address. The check happens on the very addresses
 * the socket then connects to, so a name that answers differently the second time (DNS rebinding) gains nothing.
 */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) return callback(error, '', 0);
    if (!addresses.length || addresses.some((a) => !isPublicAddress(a.address))) return callback(new NonPublicAddress(hostname), '', 0);
    if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    return callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

export interface OutboundFetchOptions {
  /** Longest wait, connection and body included (oidc-provider's own limit of 2.5 s still applies). */
  timeoutMs: number;
  /** Development and tests only: `host:port` that may be fetched although private (config refuses it in production). */
  allowHosts?: string[];
  /** Development and tests only: a PEM certificate trusted for `allowHosts`, besides the system roots. */
  devCa?: string;
}

/** What oidc-provider passes: its own timeout signal, headers, and a dispatcher of its own, which is replaced here. */
type FetchInit = Omit<RequestInit, 'dispatcher'> & { dispatcher?: unknown };

/**
 * oidc-provider's `fetch` (client ID metadata documents, client `jwks_uri`, `sector_identifier_uri`): https only,
 * public addresses only — checked on the literal host and on every address a name resolves to, before connecting —
 * no redirects (a redirect to a private address would otherwise slip past), and a time limit. oidc-provider adds the
 * body size limits (`fetchResponseBodyLimits`). undici (the library behind Node's fetch) is used directly: its Agent is
 * what carries the address check, and oidc-provider's own post-connect check silently disappears where Node's
 * global dispatcher is out of reach (as in jest's sandbox).
 */
export function outboundFetch({ timeoutMs, allowHosts = [], devCa }: OutboundFetchOptions) {
  const publicAgent = new Agent({ connect: { lookup: publicOnlyLookup } });
  const devAgent = allowHosts.length ? new Agent({ connect: { ca: devCa ? [...rootCertificates, devCa] : undefined } }) : undefined;
  const allowed = new Set(allowHosts.map((h) => h.toLowerCase()));

  return async function fetchPublic(input: string | URL, init: FetchInit = {}) {
    const url = new URL(input);
    if (url.protocol !== 'https:') throw new TypeError('only https URLs are fetched');
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const escapeHatch = allowed.has(`${url.hostname}:${url.port || '443'}`);
    if (!escapeHatch && isIP(hostname) && !isPublicAddress(hostname)) throw new NonPublicAddress(hostname);
    const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
    return fetch(url, { ...init, signal, redirect: 'manual', dispatcher: escapeHatch ? devAgent : publicAgent });
  };
}

import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { rootCertificates } from 'node:tls';
import type { RequestInit } from 'undici';
import { lazy } from '../lazy.js';

/** The NAT64 well-known prefix (RFC 6052 §2.1): how a host on an IPv6-only network reaches an IPv4 server. */
const NAT64 = ipaddr.parseCIDR('64:ff9b::/96');
/** IPv4-compatible addresses (RFC 4291 §2.5.5.1, deprecated): `::7f00:1` is 127.0.0.1 to a host that still routes them. */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');

/**
 * True for an address on the public internet, the only kind a fetch on a stranger's behalf may reach (SSRF,
 * docs/threat-model.md J4). ipaddr.js's registry of special-purpose ranges (RFC 6890 and later: private, loopback,
 * link-local, shared, documentation, benchmarking, multicast, reserved, unspecified, unique-local, site-local) decides;
 * an address is public when it falls in none of them. IPv4 written in decimal, octal or hex is read as the address it
 * is. IPv6 forms that carry an IPv4 address are refused outright — IPv4-mapped, IPv4-compatible (`::/96`), local-use
 * NAT64 (`64:ff9b:1::/48`), 6to4 (`2002::/16`), Teredo (`2001::/32`): a public IPv4 server is reached by its IPv4
 * address — except the NAT64 well-known prefix, which is as public as the IPv4 address it embeds.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv4') return ip.range() === 'unicast';
  const v6 = ip as ipaddr.IPv6;
  if (v6.match(NAT64)) return ipaddr.fromByteArray(v6.toByteArray().slice(12)).range() === 'unicast';
  if (v6.match(IPV4_COMPATIBLE)) return false;
  return v6.range() === 'unicast';
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
  /** Development and tests only: `allowHosts` may also be fetched over plain http (a fake provider on 127.0.0.1). */
  httpForAllowHosts?: boolean;
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
export function outboundFetch({ timeoutMs, allowHosts = [], devCa, httpForAllowHosts = false }: OutboundFetchOptions) {
  // undici (some 100 modules) and its agents are made at the first fetch, not at start (lazy.ts).
  const client = lazy(async () => {
    const { Agent, fetch } = await import('undici');
    const publicAgent = new Agent({ connect: { lookup: publicOnlyLookup } });
    const devAgent = allowHosts.length ? new Agent({ connect: { ca: devCa ? [...rootCertificates, devCa] : undefined } }) : undefined;
    return { fetch, publicAgent, devAgent };
  });
  const allowed = new Set(allowHosts.map((h) => h.toLowerCase()));

  return async function fetchPublic(input: string | URL, init: FetchInit = {}) {
    const url = new URL(input);
    const escapeHatch = allowed.has(`${url.hostname}:${url.port || (url.protocol === 'http:' ? '80' : '443')}`);
    if (url.protocol !== 'https:' && !(escapeHatch && httpForAllowHosts && url.protocol === 'http:'))
      throw new TypeError('only https URLs are fetched');
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    // The URL parser already wrote any IPv4 form as dotted decimal; ipaddr.js reads the others too, should one remain.
    if (!escapeHatch && ipaddr.isValid(hostname) && !isPublicAddress(hostname)) throw new NonPublicAddress(hostname);
    // The HTTP client first: its one-time load is not the remote server's slowness, so the time limit starts after it.
    const { fetch, publicAgent, devAgent } = await client();
    const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
    return fetch(url, { ...init, signal, redirect: 'manual', dispatcher: escapeHatch ? devAgent : publicAgent });
  };
}

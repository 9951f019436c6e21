import type { IncomingMessage } from 'node:http';
import type Koa from 'koa';
import type { Context } from 'koa';
import ipaddr from 'ipaddr.js';

/**
 * Who a request comes from (docs/threat-model.md J3). Every per-address limit and every address oauth3 records uses
 * this one answer. X-Forwarded-For is written by whoever sends the request: each proxy appends the address of the
 * peer it heard from, so only its rightmost entries, those our own proxies added, say anything. The leftmost entry
 * (what Koa's `ctx.ip` reads with `app.proxy` on) is whatever the client wrote there.
 *
 * - `false`: no proxy; the address is the TCP peer's, and X-Forwarded-* headers are dropped (src/http/security.ts).
 * - a number of hops N (`true` is 1): N proxies stand in front of every request; the client is the entry N places
 *   to the left of the TCP peer in `X-Forwarded-For, peer`.
 * - a list of proxy addresses and CIDR ranges: from the TCP peer leftwards, skip every address in the list; the first
 *   one outside it is the client. A request from a peer outside the list has its forwarded headers ignored.
 */
export type ProxyTrustSetting = false | number | string[];

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];
export type ProxyTrust = { hops: number } | { ranges: Range[] };

export function proxyTrust(setting: ProxyTrustSetting): ProxyTrust {
  if (Array.isArray(setting)) return { ranges: setting.map(parseRange) };
  return { hops: setting === false ? 0 : setting };
}

/** `10.0.0.0/8`, `fd00::/8`, or a single address (a /32 or /128). */
export function parseRange(value: string): Range {
  if (value.includes('/')) {
    if (!ipaddr.isValidCIDR(value)) throw new TypeError(`${value} is not a CIDR range`);
    const [address, bits] = ipaddr.parseCIDR(value);
    return [unmapped(address), address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() ? Math.max(0, bits - 96) : bits];
  }
  const address = parseAddress(value);
  if (!address) throw new TypeError(`${value} is not an IP address`);
  return [address, address.kind() === 'ipv4' ? 32 : 128];
}

/** A proxy's or peer's address in its one dotted or RFC 5952 form, IPv4-mapped IPv6 as IPv4; undefined if it is none. */
function parseAddress(raw: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  let value = raw.trim();
  // Some proxies append a port: "[2001:db8::1]:443", "203.0.113.7:51234".
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed) value = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(value)) value = value.slice(0, value.lastIndexOf(':'));
  // Only the plain four-part form for IPv4: "0x7f.1" or "2130706433" is not what a proxy writes.
  if (ipaddr.IPv4.isValidFourPartDecimal(value)) return ipaddr.IPv4.parse(value);
  if (ipaddr.IPv6.isValid(value)) return unmapped(ipaddr.IPv6.parse(value));
  return undefined;
}

function unmapped(address: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() ? (address as ipaddr.IPv6).toIPv4Address() : address;
}

const inRanges = (address: ipaddr.IPv4 | ipaddr.IPv6, ranges: Range[]) =>
  ranges.some(([network, bits]) => network.kind() === address.kind() && address.match(network, bits));

const show = (address: ipaddr.IPv4 | ipaddr.IPv6) => address.toString();

/**
 * A stored or reported address as people read it: its one canonical form, an IPv4-mapped IPv6 address
 * ("::ffff:203.0.113.5", what a server listening on IPv6 sees of an IPv4 client) as the IPv4 address; anything that is
 * not an address is shown as it is.
 */
export function displayAddress(ip: string | null | undefined): string | null {
  if (!ip) return null;
  const address = parseAddress(ip);
  return address ? show(address) : ip;
}

/**
 * The client's address from the TCP peer's address and the X-Forwarded-For header, under `trust`. Walks the chain
 * `X-Forwarded-For, peer` from the right; an entry that is not an address ends the walk at the last trusted hop.
 */
export function clientAddressOf(peer: string | undefined, forwardedFor: string | undefined, trust: ProxyTrust): string {
  const peerAddress = peer ? parseAddress(peer) : undefined;
  if (!peerAddress) return peer ?? '';
  // `hop`: how many places left of the peer an address stands (the peer is 0).
  const isProxy = (hop: number, address: ipaddr.IPv4 | ipaddr.IPv6) =>
    'hops' in trust ? hop < trust.hops : inRanges(address, trust.ranges);
  if (!isProxy(0, peerAddress) || !forwardedFor) return show(peerAddress);
  const entries = forwardedFor.split(',');
  let nearest = peerAddress;
  for (let i = entries.length - 1, hop = 1; i >= 0; i--, hop++) {
    const address = parseAddress(entries[i]!);
    // A trusted proxy wrote this entry; if it is not an address, the proxy before it is the best we know.
    if (!address) return show(nearest);
    if (!isProxy(hop, address)) return show(address);
    nearest = address;
  }
  // Every hop was a proxy: the leftmost is as close to the client as the chain goes.
  return show(nearest);
}

/** Whether forwarded headers on a request from `peer` were written by one of our proxies. */
export function trustsPeer(peer: string | undefined, trust: ProxyTrust): boolean {
  if ('hops' in trust) return trust.hops > 0;
  const address = peer ? parseAddress(peer) : undefined;
  return address !== undefined && inRanges(address, trust.ranges);
}

const TRUST = Symbol('oauth3.proxyTrust');
const ADDRESS = Symbol('oauth3.clientAddress');

type WithTrust = Koa & { [TRUST]?: ProxyTrust };
type WithAddress = IncomingMessage & { [ADDRESS]?: string };

/** The client's address for this request (computed once per request). */
export function clientAddress(ctx: Pick<Context, 'req' | 'app'>): string {
  const req = ctx.req as WithAddress;
  if (req[ADDRESS] === undefined) {
    const trust = (ctx.app as WithTrust)[TRUST] ?? { hops: 0 };
    const forwarded = req.headers['x-forwarded-for'];
    req[ADDRESS] = clientAddressOf(req.socket.remoteAddress, Array.isArray(forwarded) ? forwarded.join(',') : forwarded, trust);
  }
  return req[ADDRESS];
}

/**
 * Makes `clientAddress` the app's one source of a request's address: `ctx.ip` and `ctx.request.ip` (which
 * oidc-provider reads, for the device's address on the confirmation page among others) answer with it, and Koa's own
 * proxy handling, which reads the leftmost X-Forwarded-For entry, is off (the issuer pins host and protocol).
 */
export function useClientAddress(app: Koa, trust: ProxyTrust): void {
  (app as WithTrust)[TRUST] = trust;
  app.proxy = false;
  Object.defineProperty(app.request, 'ip', {
    configurable: true,
    get(this: Koa.Request) {
      return clientAddress(this.ctx);
    },
  });
}

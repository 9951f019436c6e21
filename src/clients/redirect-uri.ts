import { z } from 'zod';
import type Provider from 'oidc-provider';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const SCRIPT_SCHEMES = new Set(['javascript:', 'data:', 'file:', 'vbscript:']);
/** A scheme, `//`, then an authority holding an `@`: a user name or password, possibly empty (`https://@host`). */
const USERINFO = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\\]*@/i;

export type RedirectUriCheck = { ok: true; uri: string } | { ok: false; reason: string };

/**
 * The one rule for a redirect URI, whichever way it is registered (the CLI, the developer portal, RFC 7591/7592 at
 * /reg, a client ID metadata document): exact `https` (or `http` on loopback for development and native apps,
 * or a private-use scheme for native apps, RFC 8252 §7.1), no fragment, no wildcard, and no user name or password:
 * `https://good.example@evil.example/cb` sends the browser to evil.example while reading as good.example
 * (docs/threat-model.md F6). The URI kept is the parser's serialisation (lower-case host, default port dropped,
 * dot segments resolved, IDN in punycode), so every later comparison and every page shows what the browser will open.
 */
export function checkRedirectUri(value: unknown): RedirectUriCheck {
  if (typeof value !== 'string' || value.length > 2000) return { ok: false, reason: 'must be a URL of at most 2000 characters' };
  const u = URL.parse(value);
  if (!u) return { ok: false, reason: 'is not a URL' };
  if (value.includes('*')) return { ok: false, reason: 'must be exact: no wildcard' };
  if (u.hash || value.includes('#')) return { ok: false, reason: 'must not have a fragment' };
  if (u.username || u.password || USERINFO.test(value.trim())) {
    return { ok: false, reason: `must not have a user name or password before the host (it would send the browser to ${u.host || 'another host'})` };
  }
  if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname)) return { ok: false, reason: 'must be https (http only on localhost, 127.0.0.1 or [::1])' };
  if (u.protocol !== 'https:' && u.protocol !== 'http:') {
    // Private-use schemes for native apps need a reverse-domain name; never script or data URLs.
    if (!/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(u.protocol) || SCRIPT_SCHEMES.has(u.protocol)) {
      return { ok: false, reason: 'must be https (http only on localhost), or a reverse-domain private-use scheme for a native app' };
    }
  }
  return { ok: true, uri: u.href };
}

/** `checkRedirectUri` as a zod schema whose output is the normalised URI. */
export const RedirectUri = z.string().transform((value, ctx) => {
  const checked = checkRedirectUri(value);
  if (checked.ok) return checked.uri;
  ctx.addIssue({ code: 'custom', message: `${value.slice(0, 200)} ${checked.reason}` });
  return z.NEVER;
});

/**
 * Redirect URIs are kept normalised, but clients send them as they typed them (`https://App.example` for the stored
 * `https://app.example/`). oidc-provider compares strings exactly; a presented URI that is not registered as typed
 * is compared once more in its normalised form, which names the same place for the browser. A URI the rule above
 * refuses never matches this way.
 */
export function matchNormalisedRedirectUris(provider: Provider): void {
  const proto = provider.Client.prototype as unknown as Record<'redirectUriAllowed' | 'postLogoutRedirectUriAllowed', (value: string) => boolean>;
  for (const name of ['redirectUriAllowed', 'postLogoutRedirectUriAllowed'] as const) {
    const exact = proto[name];
    proto[name] = function allowed(this: unknown, value: string) {
      if (exact.call(this, value)) return true;
      const checked = checkRedirectUri(value);
      return checked.ok && checked.uri !== value && exact.call(this, checked.uri);
    };
  }
}

import { z } from 'zod';

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
 * dot segments resolved, IDN in punycode), so every page shows what the browser will open. An authorization request
 * must then name it exactly as kept: oidc-provider compares redirect URIs as exact strings (RFC 9700 §4.1.3, A1),
 * and the CLI, the portal and the registration response all show the kept form.
 */
export function checkRedirectUri(value: unknown): RedirectUriCheck {
  if (typeof value !== 'string' || value.length > 2000) return { ok: false, reason: 'must be a URL of at most 2000 characters' };
  const u = URL.parse(value);
  if (!u) return { ok: false, reason: 'is not a URL' };
  if (value.includes('*')) return { ok: false, reason: 'must be exact: no wildcard' };
  if (u.hash || value.includes('#')) return { ok: false, reason: 'must not have a fragment' };
  if (u.username || u.password || USERINFO.test(value.trim())) {
    return {
      ok: false,
      reason: `must not have a user name or password before the host (it would send the browser to ${u.host || 'another host'})`,
    };
  }
  if (u.protocol === 'http:' && !LOOPBACK.has(u.hostname))
    return { ok: false, reason: 'must be https (http only on localhost, 127.0.0.1 or [::1])' };
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

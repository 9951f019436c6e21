import { badRequest } from '../errors.js';

const invalidPath = (why: string) => badRequest('invalid_path', `This path cannot be forwarded upstream: ${why}.`);

/**
 * Things that could move a proxied call off the provider's API or out of its allowed paths (threat model G3): dot
 * segments, empty segments (`//`, a scheme-relative URL), userinfo, backslashes, control characters, and their
 * percent-encoded forms, which a server behind the provider might decode once more.
 */
const FORBIDDEN: [RegExp, string][] = [
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  [/[\u0000-\u001f\u007f]/, 'control characters'],
  [/\\/, 'backslashes'],
  [/@/, 'an @'],
  [/\/\//, 'empty segments'],
  [/(^|\/)\.{1,2}(\/|$)/, 'dot segments'],
  [/%(2f|5c|2e|40|00|0a|0d|25)/i, 'encoded slashes, dots or control characters'],
  [/%(?![0-9a-f]{2})/i, 'a malformed escape'],
  [/^[^/]/, 'a path that does not start with /'],
];

/** True when `path` is `prefix` or below it, segment-wise: `/v1/users` is under `/v1` but `/v10` is not. */
export function isUnder(path: string, prefix: string): boolean {
  if (prefix === '/' || path === prefix) return true;
  return path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

/**
 * The upstream URL for a proxied call: `rawPath` (as received, still percent-encoded) appended to the provider's
 * API base, checked before and after URL parsing so that no normalisation changed where it points.
 */
export function proxyTarget(apiBaseUrl: string, allowedPaths: readonly string[], rawPath: string, rawQuery: string): URL {
  for (const [pattern, why] of FORBIDDEN) if (pattern.test(rawPath)) throw invalidPath(`it contains ${why}`);
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (/[\u0000-\u001f\u007f#]/.test(rawQuery)) throw invalidPath('the query contains control characters');
  if (!allowedPaths.some((prefix) => isUnder(rawPath, prefix))) throw invalidPath('it is outside the paths this provider allows');

  const base = new URL(apiBaseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const target = new URL(`${base.origin}${basePath}${rawPath}${rawQuery ? `?${rawQuery}` : ''}`);
  // Belt and braces: the parsed URL must be exactly what was checked, on the same origin.
  if (target.origin !== base.origin || target.pathname !== `${basePath}${rawPath}` || target.username || target.password) {
    throw invalidPath('it does not stay on the provider API');
  }
  return target;
}

import { randomBytes } from 'node:crypto';
import type { Adapter } from 'oidc-provider';

/** oidc-provider's model name: with REGISTRATION=token, POST /reg needs one as its bearer token (RFC 7591 §3). */
export const INITIAL_ACCESS_TOKEN = 'InitialAccessToken';

/** `30m`, `12h`, `7d` or plain seconds; at most 90 days. */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d{1,7})([smhd]?)$/.exec(value.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  return seconds > 0 && seconds <= 90 * 86400 ? seconds : undefined;
}

/**
 * A new initial access token, in the payload oidc-provider's InitialAccessToken model reads back (an opaque token
 * whose value is its id, 256 random bits). The `iat_` prefix tells a person (and a secret scanner) what it is, and
 * keeps a value from starting with `-`, which the command line would read as an option when revoking it. Reusable until it expires or is revoked; the value is shown once, and the
 * adapter stores only its digest (adapters/at-rest.ts), so revoking it needs the value too.
 */
export async function createInitialAccessToken(storage: Adapter, expiresIn: number): Promise<{ token: string; expiresAt: Date }> {
  const token = `iat_${randomBytes(32).toString('base64url')}`;
  const iat = Math.floor(Date.now() / 1000);
  await storage.upsert(token, { iat, exp: iat + expiresIn, jti: token, kind: INITIAL_ACCESS_TOKEN }, expiresIn);
  return { token, expiresAt: new Date((iat + expiresIn) * 1000) };
}

/** Revokes an initial access token; false when there was none. */
export async function revokeInitialAccessToken(storage: Adapter, token: string): Promise<boolean> {
  if (!(await storage.find(token))) return false;
  await storage.destroy(token);
  return true;
}

import { randomBytes } from 'node:crypto';
import type { Database } from '../db/database.js';
import { PostgresAdapter } from '../../adapters/postgres.js';

/** oidc-provider's model name: with REGISTRATION=token, POST /reg needs one as its bearer token (RFC 7591 §3). */
const MODEL = 'InitialAccessToken';

/** `30m`, `12h`, `7d` or plain seconds; at most 90 days. */
export function parseDuration(value: string): number | undefined {
  const match = /^(\d{1,7})([smhd]?)$/.exec(value.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  return seconds > 0 && seconds <= 90 * 86400 ? seconds : undefined;
}

/**
 * A new initial access token, in the payload oidc-provider's InitialAccessToken model reads back (an opaque token
 * whose value is its id, 256 random bits). Reusable until it expires or is revoked; the value is shown once, and the
 * adapter stores only its digest (adapters/at-rest.ts), so revoking it needs the value too.
 */
export async function createInitialAccessToken(db: Database, expiresIn: number): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const iat = Math.floor(Date.now() / 1000);
  await new PostgresAdapter(MODEL, db).upsert(token, { iat, exp: iat + expiresIn, jti: token, kind: MODEL }, expiresIn);
  return { token, expiresAt: new Date((iat + expiresIn) * 1000) };
}

/** Revokes an initial access token; false when there was none. */
export async function revokeInitialAccessToken(db: Database, token: string): Promise<boolean> {
  const adapter = new PostgresAdapter(MODEL, db);
  if (!(await adapter.find(token))) return false;
  await adapter.destroy(token);
  return true;
}

import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { open, seal, type MasterKeyRing } from './sealing.js';

/**
 * Signing keys (ES256, plus RS256 for clients that only know RS256) and cookie keys, generated on first start and
 * stored sealed under the master key, so every replica and every restart uses the same ones.
 */
export type SigningAlg = 'ES256' | 'RS256';
export type PrivateJwk = JsonWebKey & { kid: string; alg: SigningAlg; use: 'sig' };

const GENERATE_LOCK = 7330002;

function generateJwk(alg: SigningAlg): PrivateJwk {
  const { privateKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `${alg.toLowerCase()}-${randomBytes(9).toString('base64url')}`;
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

async function insertSigningKeys(tx: Queryable, ring: MasterKeyRing, activateInSeconds = 0): Promise<void> {
  for (const alg of ['ES256', 'RS256'] as const) {
    const jwk = generateJwk(alg);
    await tx.query(
      `INSERT INTO keys (kid, use, alg, sealed, activates_at) VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5::int))`,
      [jwk.kid, 'sig', alg, seal(ring, JSON.stringify(jwk), `key|sig|${jwk.kid}`), activateInSeconds],
    );
  }
}

interface KeyRow {
  kid: string;
  alg: string;
  sealed: string;
}

/**
 * Every published key, the newest active one of each algorithm first: oidc-provider signs with the first key of
 * each algorithm and publishes them all. Older keys (still verifying tokens) and keys not active yet follow.
 */
export async function loadSigningKeys(db: Database, ring: MasterKeyRing): Promise<PrivateJwk[]> {
  const select = `SELECT kid, alg, sealed FROM keys WHERE use = 'sig' AND (remove_after IS NULL OR remove_after > now())
                  ORDER BY activates_at > now(), activates_at DESC, kid`;
  let { rows } = await db.query<KeyRow>(select);
  if (!rows.some((r) => r.alg === 'ES256') || !rows.some((r) => r.alg === 'RS256')) {
    rows = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [GENERATE_LOCK]);
      const again = await tx.query<KeyRow>(select);
      if (again.rows.length) return again.rows;
      await insertSigningKeys(tx, ring);
      return (await tx.query<KeyRow>(select)).rows;
    });
  }
  return rows.map((row) => JSON.parse(open(ring, row.sealed, `key|sig|${row.kid}`).toString('utf8')) as PrivateJwk);
}

/**
 * Adds a new signing key pair that signs from `activateInSeconds` on; until then it is only published, so every
 * verifier can fetch it before the first token signed with it exists (I3). The current keys retire at that moment
 * and stay published `keepSeconds` longer (the longest lifetime of a token they signed). Servers load keys at
 * start: restart them after the activation time to sign with the new keys.
 */
export async function rotateSigningKeys(db: Database, ring: MasterKeyRing, keepSeconds: number, activateInSeconds = 0): Promise<string[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [GENERATE_LOCK]);
    await tx.query(
      `UPDATE keys SET retired_at = now() + make_interval(secs => $2::int),
         remove_after = now() + make_interval(secs => $1::int + $2::int)
       WHERE use = 'sig' AND retired_at IS NULL`,
      [keepSeconds, activateInSeconds],
    );
    await insertSigningKeys(tx, ring, activateInSeconds);
    const { rows } = await tx.query<{ kid: string }>(`SELECT kid FROM keys WHERE use = 'sig' AND retired_at IS NULL`);
    return rows.map((r) => r.kid);
  });
}

/** Cookie keys: from COOKIE_KEYS when set, else one generated and stored sealed (development). */
export async function loadCookieKeys(db: Database, ring: MasterKeyRing, configured?: string[]): Promise<string[]> {
  if (configured?.length) return configured;
  const select = `SELECT kid, alg, sealed FROM keys WHERE use = 'cookie' ORDER BY created_at DESC`;
  let { rows } = await db.query<KeyRow>(select);
  if (!rows.length) {
    rows = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [GENERATE_LOCK]);
      const again = await tx.query<KeyRow>(select);
      if (again.rows.length) return again.rows;
      const kid = `cookie-${randomBytes(9).toString('base64url')}`;
      const secret = randomBytes(32).toString('base64url');
      await tx.query('INSERT INTO keys (kid, use, sealed) VALUES ($1, $2, $3)', [kid, 'cookie', seal(ring, secret, `key|cookie|${kid}`)]);
      return (await tx.query<KeyRow>(select)).rows;
    });
  }
  return rows.map((row) => open(ring, row.sealed, `key|cookie|${row.kid}`).toString('utf8'));
}

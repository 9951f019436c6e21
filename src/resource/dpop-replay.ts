import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Database } from '../db/database.js';

/**
 * The DPoP proofs the resource API has accepted (RFC 9449 §11.1): a proof is good once, on whichever replica it
 * reaches first. With Redis configured the entries live there; otherwise in the database (migration 010), whose
 * expired rows the periodic sweep deletes. Never in a process's memory, which another replica cannot see (H2).
 */
export interface ProofReplayCache {
  /** True the first time this key's proof id is seen within `ttlSeconds`; false for a replay. Storage errors throw. */
  firstUse(thumbprint: string, jti: string, ttlSeconds: number): Promise<boolean>;
}

/** One fixed-length id per (key, jti): two clients cannot collide on each other's jti, and any jti length fits. */
const entryId = (thumbprint: string, jti: string) => createHash('sha256').update(`${thumbprint}\n${jti}`).digest('base64url');

class RedisReplayCache implements ProofReplayCache {
  constructor(private readonly redis: Redis) {}

  async firstUse(thumbprint: string, jti: string, ttlSeconds: number): Promise<boolean> {
    // SET NX is atomic: of two replicas racing with the same proof, exactly one gets OK.
    return (await this.redis.set(`oauth3:dpop:${entryId(thumbprint, jti)}`, '1', 'EX', Math.ceil(ttlSeconds), 'NX')) === 'OK';
  }
}

class DatabaseReplayCache implements ProofReplayCache {
  constructor(private readonly db: Database) {}

  async firstUse(thumbprint: string, jti: string, ttlSeconds: number): Promise<boolean> {
    // The primary key makes the insert the atomic check; a row left over after its expiry (not yet swept) is taken
    // over, since a proof that old is refused by its iat anyway.
    const { rows } = await this.db.query(
      `INSERT INTO dpop_replay (id, expires_at) VALUES ($1, now() + make_interval(secs => $2))
       ON CONFLICT (id) DO UPDATE SET expires_at = EXCLUDED.expires_at WHERE dpop_replay.expires_at <= now()
       RETURNING id`,
      [entryId(thumbprint, jti), Math.ceil(ttlSeconds)],
    );
    return rows.length === 1;
  }
}

export const proofReplayCache = (db: Database, redis?: Redis): ProofReplayCache =>
  redis ? new RedisReplayCache(redis) : new DatabaseReplayCache(db);

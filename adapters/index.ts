import type { Adapter } from 'oidc-provider';
import type { Redis } from 'ioredis';
import type { Database } from '../src/db/database.js';
import { PostgresAdapter, deleteExpiredModels } from './postgres.js';
import { deleteExpiredRows } from '../src/db/cleanup.js';
import { RedisAdapter } from './redis.js';
import { withAfterlife } from './afterlife.js';
import { ClientCache } from './client-cache.js';
import { ClientAdapter } from './client.js';
import type { Clock } from '../src/clock.js';
import type { UserCodes } from './at-rest.js';

/**
 * Models that live minutes, not months (docs/architecture.md#storage): with Redis configured they go there; everything
 * else, and all of them without Redis, stays in Postgres. Never per-process memory (threat model H2).
 */
export const SHORT_LIVED_MODELS = new Set([
  'Session',
  'Interaction',
  'AuthorizationCode',
  'DeviceCode',
  'PushedAuthorizationRequest',
  'ReplayDetection',
  'BackchannelAuthenticationRequest',
]);

export interface AdapterDeps {
  db: Database;
  redis?: Redis;
  /** The server's clock, for the grace period of rotated client secrets (threat model F3). */
  clock?: Clock;
  /** The key device user codes are digested under, from the master key (adapters/at-rest.ts). */
  userCodes: UserCodes;
  /** The client rows kept while their changes are heard; default a cache of the adapters' own. */
  clientCache?: ClientCache;
}

/** How long an expired device code stays stored (seconds): longer than any device waits between polls. */
const DEVICE_CODE_AFTERLIFE = 600;

/** The class oidc-provider is given as `adapter`: it calls `new Adapter(modelName)` once per model. */
export function createAdapterClass({ db, redis, clock, userCodes, clientCache }: AdapterDeps): new (model: string) => Adapter {
  // Every token request looks up its client: rows are kept while the database announces their changes.
  const clients = clientCache ?? new ClientCache().follow(db);
  return class RoutedAdapter {
    constructor(model: string) {
      if (model === 'Client') return new ClientAdapter(db, clock, clients);
      const adapter =
        redis && SHORT_LIVED_MODELS.has(model)
          ? new RedisAdapter(model, redis, userCodes)
          : new PostgresAdapter(model, db, userCodes, { sessionsHere: !redis });
      // An expired device code answers expired_token rather than invalid_grant for a while (RFC 8628 §3.5).
      return model === 'DeviceCode' ? withAfterlife(adapter, DEVICE_CODE_AFTERLIFE) : adapter;
    }
  } as unknown as new (model: string) => Adapter;
}

/** Every expired row, ours and oidc-provider's: run every 10 minutes by the server and by `oauth3 cleanup`. */
export async function deleteExpired(db: Database): Promise<number> {
  const [ours, models] = await Promise.all([deleteExpiredRows(db), deleteExpiredModels(db)]);
  return ours + models;
}

/** One model's storage without a provider: the command line writes initial access tokens with no server running. */
export const modelStorage = (db: Database, model: string): Adapter => new PostgresAdapter(model, db);

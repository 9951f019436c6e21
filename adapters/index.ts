import type { Adapter } from 'oidc-provider';
import type { Redis } from 'ioredis';
import type { Database } from '../src/db/database.js';
import { PostgresAdapter } from './postgres.js';
import { RedisAdapter } from './redis.js';

/**
 * Models that live minutes, not months (DESIGN.md, Storage): with Redis configured they go there; everything
 * else, and all of them without Redis, stays in Postgres. Never per-process memory (SECURITY.md H2).
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
}

/** The class oidc-provider is given as `adapter`: it calls `new Adapter(modelName)` once per model. */
export function createAdapterClass({ db, redis }: AdapterDeps): new (model: string) => Adapter {
  return class RoutedAdapter {
    constructor(model: string) {
      return redis && SHORT_LIVED_MODELS.has(model) ? new RedisAdapter(model, redis) : new PostgresAdapter(model, db);
    }
  } as unknown as new (model: string) => Adapter;
}

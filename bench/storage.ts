import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger, logDestination, type Logger } from '../src/logger.js';
import { openDatabase } from '../src/db/open.js';
import { loadMasterKeys } from '../src/keys/master-key.js';
import { loadCookieKeys, loadSigningKeys, type PrivateJwk } from '../src/keys/keystore.js';
import type { Database } from '../src/db/database.js';
import { ClientStore } from '../src/clients/store.js';
import type { BenchFixtures, TargetSetup } from './protocol.js';
import { PluginRegistry } from '../src/plugins/registry.js';
import { loadBuiltinPlugins } from '../src/plugins/load.js';
import { scopeCatalogFor } from '../src/plugins/scope-catalog.js';
import type { ScopeCatalog } from '../scopes/catalog.js';

type ConfigSetup = Pick<TargetSetup, 'port' | 'storage' | 'databaseUrl' | 'redisUrl' | 'dataDir' | 'masterKey' | 'logLevel'>;

/** One configuration for both oidc-provider targets: same issuer, port, TTLs, keys and log level; storage as set up. */
export function benchConfig(setup: ConfigSetup): Config {
  return loadConfig(benchEnvironment(setup));
}

/** The environment benchConfig reads, for a server started as its own `node` (bench/worker-targets.ts). */
export function benchEnvironment(setup: ConfigSetup): Record<string, string> {
  const storage: Record<string, string> =
    setup.storage === 'postgres'
      ? { DATABASE_URL: setup.databaseUrl!, ...(setup.redisUrl ? { REDIS_URL: setup.redisUrl } : {}) }
      : { DATA_DIR: setup.dataDir! };
  return {
    NODE_ENV: 'test',
    PORT: String(setup.port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${setup.port}`,
    ...storage,
    MASTER_KEY: setup.masterKey,
    LOG_LEVEL: setup.logLevel,
    // Bench servers run one after another and beside other processes: no metrics listener to fight over its port.
    METRICS_PORT: '0',
  };
}

/**
 * Log lines are formatted and written as in production (src/logger.ts logDestination), but to /dev/null: the cost of
 * logging is measured, the bench's output stays readable.
 */
export function benchLogger(config: Config): Logger {
  return createLogger(config.LOG_LEVEL, logDestination('/dev/null'));
}

export async function loadKeys(db: Database, config: Config, logger: Logger): Promise<{ signingKeys: PrivateJwk[]; cookieKeys: string[] }> {
  const ring = loadMasterKeys(config, logger);
  return { signingKeys: await loadSigningKeys(db, ring), cookieKeys: await loadCookieKeys(db, ring, config.COOKIE_KEYS) };
}

/** Where the web app's codes are sent; never followed, the load generator reads the code from the Location header. */
export const BENCH_REDIRECT_URI = 'https://bench.example.com/callback';

/**
 * Migrates the fresh schema (or embedded folder), creates the signing and cookie keys every oidc-provider target then
 * loads, registers the two clients and creates the owner account the targets sign in.
 */
/** The scopes a server with this configuration knows: the clients' scope (tweet.read) is a plugin's. */
export async function benchScopes(config: Config): Promise<ScopeCatalog> {
  return scopeCatalogFor(config, new PluginRegistry(await loadBuiltinPlugins()));
}

export async function prepareStorage(config: Config): Promise<BenchFixtures> {
  const scopes = await benchScopes(config);
  const db = await openDatabase(config, 'oauth3 bench');
  try {
    await loadKeys(db, config, benchLogger(config));
    const clients = new ClientStore(db, undefined, scopes);
    const credentials = await clients.add({ name: 'bench agent', grantTypes: ['client_credentials'], scope: 'tweet.read' });
    const web = await clients.add({
      name: 'bench web app',
      redirectUris: [BENCH_REDIRECT_URI],
      grantTypes: ['authorization_code', 'refresh_token'],
      scope: 'openid offline_access tweet.read',
    });
    const accountId = `bench-owner-${randomBytes(6).toString('hex')}`;
    await db.query('INSERT INTO accounts (id) VALUES ($1)', [accountId]);
    return {
      credentials: { clientId: credentials.client.clientId, clientSecret: credentials.clientSecret! },
      web: { clientId: web.client.clientId, clientSecret: web.clientSecret!, redirectUri: BENCH_REDIRECT_URI },
      accountId,
    };
  } finally {
    await db.close();
  }
}

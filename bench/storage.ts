import pino from 'pino';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger, type Logger } from '../src/logger.js';
import { openDatabase } from '../src/db/open.js';
import { loadMasterKeys } from '../src/keys/master-key.js';
import { loadCookieKeys, loadSigningKeys, type PrivateJwk } from '../src/keys/keystore.js';
import type { Database } from '../src/db/database.js';
import { ClientStore } from '../src/clients/store.js';
import type { TargetSetup } from './protocol.js';
import { PluginRegistry } from '../src/plugins/registry.js';
import { builtinPlugins } from '../src/plugins/builtin.js';

/** One configuration for both oidc-provider targets: same issuer, port, TTLs, keys and log level. */
export function benchConfig(setup: Pick<TargetSetup, 'port' | 'databaseUrl' | 'masterKey' | 'logLevel'>): Config {
  return loadConfig({
    NODE_ENV: 'test',
    PORT: String(setup.port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${setup.port}`,
    DATABASE_URL: setup.databaseUrl,
    MASTER_KEY: setup.masterKey,
    LOG_LEVEL: setup.logLevel,
  });
}

/**
 * Log lines are formatted and written as in production, but to /dev/null: the cost of logging is measured, the
 * bench's output stays readable.
 */
export function benchLogger(config: Config): Logger {
  return createLogger(config.LOG_LEVEL, pino.destination({ dest: '/dev/null', sync: true }));
}

export async function loadKeys(db: Database, config: Config, logger: Logger): Promise<{ signingKeys: PrivateJwk[]; cookieKeys: string[] }> {
  const ring = loadMasterKeys(config, logger);
  return { signingKeys: await loadSigningKeys(db, ring), cookieKeys: await loadCookieKeys(db, ring, config.COOKIE_KEYS) };
}

/**
 * Migrates the fresh schema, creates the signing and cookie keys every oidc-provider target then loads, and
 * registers the confidential client-credentials client. Returns its id and secret.
 */
export async function prepareStorage(config: Config): Promise<{ clientId: string; clientSecret: string }> {
  // The client's scope (tweet.read) is a plugin's: loading the plugins registers it, as the server does at start.
  new PluginRegistry(builtinPlugins);
  const db = await openDatabase(config, 'oauth3 bench');
  try {
    await loadKeys(db, config, benchLogger(config));
    const { client, clientSecret } = await new ClientStore(db).add({
      name: 'bench agent',
      grantTypes: ['client_credentials'],
      scope: 'tweet.read',
    });
    return { clientId: client.clientId, clientSecret: clientSecret! };
  } finally {
    await db.close();
  }
}

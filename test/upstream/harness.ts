import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { Writable } from 'node:stream';
import type { Database } from '../../src/db/database.js';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { ConnectionStore } from '../../src/connections/store.js';
import { Vault } from '../../src/vault/vault.js';
import { keyRing } from '../../src/keys/sealing.js';
import { UpstreamTokenService } from '../../src/upstream/tokens.js';
import { UpstreamProviderConfig } from '../../src/upstream/provider-config.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';
import { FakeOAuthProvider, type FakeProviderOptions } from '../fakes/oauth-provider.js';
import { closeServer, listenLocally } from '../fakes/local-server.js';

/**
 * The upstream client's services on a real database, without the HTTP app: what a test needs to drive token
 * refreshes and the proxy directly (each "process" gets its own pool, service and in-process single flight).
 */
export interface TestDb {
  db: Database;
  /** Postgres only: the schema's URL, for a second pool that plays a second process. */
  url?: string;
  close(): Promise<void>;
}

export async function openTestDb(backend: 'pglite' | 'postgres'): Promise<TestDb> {
  if (backend === 'pglite') {
    const db = await createPgliteDatabase(undefined);
    await migrate(db);
    return { db, close: () => db.close() };
  }
  const schema = await createTestSchema(serviceUrl('TEST_DATABASE_URL')!);
  const db = createPostgresDatabase({ url: schema.url, poolSize: 30, timeoutMs: 10_000 });
  await migrate(db);
  return {
    db,
    url: schema.url,
    close: async () => {
      await db.close();
      await schema.drop();
    },
  };
}

/** A second pool on the same schema: another server process as far as row locks are concerned. */
export const secondPool = (url: string) => createPostgresDatabase({ url, poolSize: 30, timeoutMs: 10_000 });

export async function newAccount(db: Database): Promise<string> {
  const id = `acct_${randomBytes(8).toString('hex')}`;
  await db.query('INSERT INTO accounts (id) VALUES ($1)', [id]);
  return id;
}

export function capturedLogger(): { logger: Logger; logs: string[] } {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger('debug', sink), logs };
}

export const testRing = keyRing(randomBytes(32));

export function upstreamServices(db: Database, providerInput: unknown, logger: Logger, timeoutMs = 2000) {
  const provider = UpstreamProviderConfig.parse(providerInput);
  const connections = new ConnectionStore(db, new Vault(testRing));
  const tokens = new UpstreamTokenService({
    db,
    logger,
    connections,
    provider: async (id) => (id === provider.id ? provider : undefined),
    timeoutMs,
  });
  return { provider, connections, tokens };
}

/**
 * What a test of one upstream route starts from: the fake provider, the services on a PGlite database, the log lines
 * they wrote, and an HTTP server on 127.0.0.1 whose URL is known before the app is built (the callback's issuer);
 * the test mounts its app with `server.on('request', app.callback())`.
 */
export interface UpstreamRig {
  fake: FakeOAuthProvider;
  store: TestDb;
  logger: Logger;
  logs: string[];
  services: ReturnType<typeof upstreamServices>;
  server: http.Server;
  base: string;
  close(): Promise<void>;
}

export async function startUpstreamRig(fakeOptions: FakeProviderOptions = {}): Promise<UpstreamRig> {
  const fake = await new FakeOAuthProvider(fakeOptions).start();
  const store = await openTestDb('pglite');
  const { logger, logs } = capturedLogger();
  const services = upstreamServices(store.db, fake.config(), logger, 1000);
  const server = http.createServer();
  const base = await listenLocally(server);
  return {
    fake,
    store,
    logger,
    logs,
    services,
    server,
    base,
    async close() {
      await closeServer(server);
      await store.close();
      await fake.stop();
    },
  };
}

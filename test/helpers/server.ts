import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { ClientStore, type NewClient } from '../../src/clients/store.js';
import type { Plugin } from '../../src/plugins/plugin.js';
import type { SenderOptions } from '../../src/telegram-bot/sender.js';
import type { Clock } from '../../src/clock.js';
import { createTestSchema, serviceUrl, type Backend } from './services.js';
import { seedEmbeddedDatabase } from './pglite-template.js';

export interface TestServer extends RunningServer {
  config: Config;
  /** Every log line the server wrote, for tests that grep for leaked secrets. */
  logs: string[];
  clients: ClientStore;
  addClient(input: NewClient): Promise<{ clientId: string; clientSecret?: string }>;
  /** Stops the server and removes its storage. */
  stop(): Promise<void>;
}

export interface TestServerOptions {
  backend?: Backend;
  redis?: boolean;
  env?: Record<string, string>;
  /** Reuse storage from an earlier server (restart tests): the DATA_DIR or the Postgres URL it used. */
  storage?: { dataDir: string; databaseUrl?: string };
  keepStorage?: boolean;
  /** Plugins to run instead of the built-in ones (a test plugin for the resource server's own behaviour). */
  plugins?: Plugin[];
  /** The server's clock (a ManualClock from src/clock.ts for grace-period tests). */
  clock?: Clock;
  /** The Telegram bot's sending pace; tests default to a 50 ms gap per chat and a 100 ms tick. */
  telegramSender?: Partial<SenderOptions>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** A real server on 127.0.0.1 with its own storage: a temp DATA_DIR (PGlite) or a fresh Postgres schema. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const port = await freePort();
  const dataDir = options.storage?.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'oauth3-test-'));
  let databaseUrl = options.storage?.databaseUrl;
  let dropSchema: (() => Promise<void>) | undefined;
  if (!databaseUrl && options.backend?.startsWith('postgres')) {
    const schema = await createTestSchema(serviceUrl('TEST_DATABASE_URL')!);
    databaseUrl = schema.url;
    dropSchema = schema.drop;
  }
  // A new embedded database starts as a copy of a migrated template (pglite-template.ts) instead of a new cluster.
  if (!options.storage && !databaseUrl && !options.env?.DATABASE_URL) await seedEmbeddedDatabase(dataDir);
  const wantsRedis = options.redis ?? options.backend === 'postgres+redis';
  const redisUrl = wantsRedis ? serviceUrl('TEST_REDIS_URL') : undefined;
  if (wantsRedis && !redisUrl) throw new Error('TEST_REDIS_URL is not set');

  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://localhost:${port}`,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'info',
    // No metrics listener unless a test asks for one: many servers run side by side and would share its port.
    METRICS_PORT: '0',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    ...options.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const server = await startServer(config, createLogger(config.LOG_LEVEL, sink), {
    plugins: options.plugins,
    clock: options.clock,
    telegramSender: { tickMs: 100, perChatGapMs: 50, ...options.telegramSender },
  });
  const clients = server.app.clients;
  return {
    ...server,
    url: config.ISSUER,
    config,
    logs,
    clients,
    async addClient(input) {
      const { client, clientSecret } = await clients.add(input);
      return { clientId: client.clientId, clientSecret };
    },
    async stop() {
      await server.close();
      if (options.keepStorage) return;
      await dropSchema?.();
      if (!options.storage) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** What a server kept its data in, so another can start on it (`keepStorage`). */
export interface KeptStorage {
  dataDir: string;
  databaseUrl?: string;
}

export const storageOf = (server: TestServer): KeptStorage => ({
  dataDir: server.config.DATA_DIR,
  ...(server.config.DATABASE_URL ? { databaseUrl: server.config.DATABASE_URL } : {}),
});

/** The variables that point an admin command at `server`'s storage (on embedded storage it then talks to the server). */
export const storageEnv = (server: TestServer): Record<string, string> => ({
  DATA_DIR: server.config.DATA_DIR,
  ...(server.config.DATABASE_URL ? { DATABASE_URL: server.config.DATABASE_URL } : {}),
});

/**
 * A server on `previous`'s storage, at the same port and issuer: refresh tokens name the issuer, passkeys the origin,
 * and a browser's cookies the host. `previous` must have been started with `keepStorage` and stopped.
 */
export function restartTestServer(previous: TestServer, options: TestServerOptions = {}): Promise<TestServer> {
  return startTestServer({
    ...options,
    storage: storageOf(previous),
    env: { PORT: String(previous.config.PORT), ISSUER: previous.config.ISSUER, ...options.env },
  });
}

/** Removes storage a test kept: the data folder and, on Postgres, the schema its URL points at. */
export async function removeStorage(storage: KeptStorage | undefined): Promise<void> {
  if (!storage) return;
  rmSync(storage.dataDir, { recursive: true, force: true });
  if (!storage.databaseUrl) return;
  const url = new URL(storage.databaseUrl);
  const schema = /search_path=(\w+)/.exec(url.searchParams.get('options') ?? '')?.[1];
  if (!schema) return;
  url.searchParams.delete('options');
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

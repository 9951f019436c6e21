import http from 'node:http';
import { randomBytes } from 'node:crypto';
import Koa from 'koa';
import type { ClientMetadata } from 'oidc-provider';
import { startServer } from '../src/server.js';
import { openDatabase } from '../src/db/open.js';
import { createProvider } from '../src/provider/provider.js';
import { AccountStore } from '../src/accounts/accounts.js';
import { clientFromRow, type ClientRow } from '../adapters/clients.js';
import { latestGrantId } from '../adapters/postgres.js';
import { agentsClient, consoleClient } from '../src/console/first-party.js';
import type { TargetName, TargetSetup } from './protocol.js';
import { benchConfig, benchLogger, loadKeys } from './storage.js';
import { listen, type RunningTarget } from './listen.js';
import { resourceTargets } from './resource-targets.js';
import { PluginRegistry } from '../src/plugins/registry.js';
import { builtinPlugins } from '../src/plugins/builtin.js';


/** (a) The real server: startServer, Postgres, every middleware of the app. */
async function ours(setup: TargetSetup): Promise<RunningTarget> {
  const config = benchConfig(setup);
  const server = await startServer(config, benchLogger(config));
  return {
    url: `http://127.0.0.1:${setup.port}`,
    async stop() {
      const { rows } = await server.db.query<{ n: string }>(`SELECT count(*) AS n FROM oidc_models WHERE model = 'ClientCredentials'`);
      await server.close();
      return { storedTokens: Number(rows[0]!.n) };
    },
  };
}

/**
 * (b) The same createProvider configuration, keys and client metadata, but on oidc-provider's in-memory adapter
 * with the client given statically, and without our middleware: the ceiling the issue measures us against.
 */
async function inMemory(setup: TargetSetup): Promise<RunningTarget> {
  const config = benchConfig(setup);
  const logger = benchLogger(config);
  const db = await openDatabase(config, 'oauth3 bench', { migrate: false });
  const { signingKeys, cookieKeys } = await loadKeys(db, config, logger);
  const { rows } = await db.query<ClientRow>('SELECT * FROM clients WHERE client_id = $1', [setup.clientId]);
  // The stored row as the Postgres adapter hands it over, `client_secret` being the sha256: digest.
  const client = clientFromRow(rows[0]!) as unknown as ClientMetadata;
  // createApp loads the plugins first, which registers their scopes (tweet.read) in the catalog the provider reads.
  new PluginRegistry(builtinPlugins);
  // Mirrors createApp's createProvider call (src/app.ts), with only the adapter and the bench client added.
  const provider = createProvider({
    config, logger, signingKeys, cookieKeys, accounts: new AccountStore(db),
    adapter: undefined,
    findGrantId: (accountId, clientId) => latestGrantId(db, accountId, clientId),
    clients: [consoleClient(config), agentsClient(), client],
  });
  return listen(http.createServer(provider.callback()), setup.port, () => db.close());
}

/** (c) A bare Koa endpoint: the cost of HTTP, Koa and JSON alone. */
async function bareKoa(setup: TargetSetup): Promise<RunningTarget> {
  const koa = new Koa();
  koa.use((ctx) => {
    if (ctx.method !== 'POST') {
      ctx.status = 405;
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { access_token: randomBytes(32).toString('base64url'), token_type: 'Bearer', expires_in: 3600, scope: 'tweet.read' };
  });
  return listen(http.createServer(koa.callback()), setup.port, async () => {});
}

export const targets: Record<TargetName, (setup: TargetSetup) => Promise<RunningTarget & { token?: string }>> = {
  ours,
  'in-memory': inMemory,
  'bare-koa': bareKoa,
  ...resourceTargets,
};

export type { RunningTarget };

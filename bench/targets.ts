import http from 'node:http';
import type { ClientMetadata } from 'oidc-provider';
import { startServer } from '../src/server.js';
import { openDatabase } from '../src/db/open.js';
import { createProvider } from '../src/provider/provider.js';
import { AccountStore } from '../src/accounts/accounts.js';
import { clientFromRow, selectClients } from '../adapters/clients.js';
import { latestGrantId } from '../src/grants/latest-grant.js';
import { agentsClient, consoleClient, playgroundClient } from '../src/provider/first-party.js';
import { allowMetadataFetches } from '../src/provider/registration-guards.js';
import { requestLimits } from '../src/http/timeouts.js';
import { providerPages } from '../interactions/provider-pages.js';
import { benchMemoryAdapter } from './memory-adapter.js';
import type { Scenario, Seed, TargetSetup } from './protocol.js';
import { seedFor } from './seed.js';
import { benchConfig, benchLogger, benchScopes, loadKeys } from './storage.js';
import { listen, storageCounts, type RunningTarget } from './listen.js';

/**
 * Rows our server wrote in a scenario, counted at the end: at least one per measured response, or a response was
 * answered without reaching storage.
 */
const STORED: Partial<Record<Scenario, string>> = {
  'client-credentials': 'ClientCredentials',
  'authorization-code': 'AccessToken',
  refresh: 'RefreshToken',
  'refresh-one-client': 'RefreshToken',
};

/** (a) The real server: startServer on Postgres + Redis or embedded PGlite, every middleware of the app. */
export async function ours(setup: TargetSetup): Promise<RunningTarget & { seed: Seed }> {
  const config = benchConfig(setup);
  const server = await startServer(config, benchLogger(config));
  const seed = await seedFor(server.app.provider, config, setup);
  const model = STORED[setup.scenario];
  return {
    url: `http://127.0.0.1:${setup.port}`,
    seed,
    counts: () => storageCounts(server.app.metrics),
    async stop() {
      const { rows } = model
        ? await server.db.query<{ n: string }>('SELECT count(*) AS n FROM oidc_models WHERE model = $1', [model])
        : { rows: [] };
      await server.close();
      return rows[0] ? { stored: Number(rows[0].n) } : {};
    },
  };
}

/**
 * (b) The same createProvider configuration as our server's (src/services.ts), keys and client metadata, but on an
 * in-memory adapter (bench/memory-adapter.ts: oidc-provider's MemoryAdapter without its eviction and its per-write scan
 * of a grant) with the bench clients given statically, and without our middleware: the ceiling our server is measured
 * against. Every other argument is the one createServices passes, so the same grant types (token exchange too),
 * clients, pages, TTLs, token formats, scopes and rotation are configured; bench/README.md says how it was checked.
 */
export async function inMemory(setup: TargetSetup): Promise<RunningTarget & { seed: Seed }> {
  const config = benchConfig(setup);
  const logger = benchLogger(config);
  const db = await openDatabase(config, 'oauth3 bench', { migrate: false });
  const { signingKeys, cookieKeys } = await loadKeys(db, config, logger);
  const ids = [setup.fixtures.credentials.clientId, setup.fixtures.web.clientId];
  const rows = await selectClients(db, ids);
  if (rows.length !== ids.length) throw new Error('the bench clients are not registered');
  // The stored rows as the Postgres adapter hands them over, `client_secret` being the sha256: digest.
  const benchClients = rows.map((row) => clientFromRow(row, new Date()) as unknown as ClientMetadata);
  const provider = createProvider({
    config,
    logger,
    signingKeys,
    cookieKeys,
    accounts: new AccountStore(db),
    scopes: await benchScopes(config),
    adapter: benchMemoryAdapter(),
    findGrantId: (accountId, clientId) => latestGrantId(db, accountId, clientId),
    allowMetadataFetch: allowMetadataFetches(db, config.CLIENT_METADATA_FETCHES_PER_HOUR),
    clients: [consoleClient(config), agentsClient(), playgroundClient(config), ...benchClients],
    pages: providerPages(),
    db,
  });
  const seed = await seedFor(provider, config, setup);
  const handle = provider.callback();
  return {
    ...(await listen(
      // The same limits on slow requests as startServer's listener.
      http.createServer(requestLimits(config), (req, res) => void handle(req, res)),
      setup.port,
      () => db.close(),
    )),
    seed,
    // Its database serves the owner account (findAccount) and nothing of oidc-provider's models.
    counts: async () => ({ statements: db.statementsSent() }),
  };
}

import { randomBytes } from 'node:crypto';
import { startServer } from '../src/server.js';
import { AgentTokens } from '../src/grants/agent-tokens.js';
import type { Seed, TargetSetup } from './protocol.js';
import { BENCH_PROVIDER, BENCH_SCOPE, benchPlugin } from './bench-plugin.js';
import { benchConfig, benchLogger } from './storage.js';
import { storageCounts, type RunningTarget } from './listen.js';

/**
 * Our server on Postgres + Redis or embedded PGlite with every middleware, an owner with a sealed upstream key, an
 * agent token for `audience` and a policy with content rules on its grant, so each call pays for the token check,
 * scope, policy, vault and access log.
 */
async function serverWithAgent(setup: TargetSetup, audience: 'api' | 'mcp'): Promise<RunningTarget & { seed: Seed }> {
  const config = benchConfig(setup);
  const server = await startServer(config, benchLogger(config), { plugins: [await benchPlugin(setup.upstreamUrl!)] });
  const accountId = `bench-${randomBytes(6).toString('hex')}`;
  await server.db.query('INSERT INTO accounts (id) VALUES ($1)', [accountId]);
  await server.app.connections.save(accountId, {
    provider: BENCH_PROVIDER,
    kind: 'bench.key',
    label: 'bench',
    secret: { key: randomBytes(24).toString('base64url') },
  });
  const { token, agentToken } = await new AgentTokens(server.app.provider, server.db, config, server.app.scopes).create(accountId, {
    name: 'bench agent',
    scopes: [BENCH_SCOPE],
    lifetime_hours: 2,
    resource: audience,
  });
  await server.app.services.policies.set(accountId, agentToken.grantId, {
    blocked_words: ['spam', 'scam'],
    blocked_patterns: ['buy\\s+now'],
    no_links: true,
  });
  return {
    url: `http://127.0.0.1:${setup.port}`,
    seed: { token },
    counts: () => storageCounts(server.app.metrics),
    async stop() {
      // Successful calls only: a refused or failed call is logged too, and must not pass for a post that was made.
      const { rows } = await server.db.query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE kind = 'api.call' AND outcome = 'ok'`);
      await server.close();
      return { stored: Number(rows[0]!.n) };
    },
  };
}

/** (d) The resource API: `POST /api/bench/posts` with a token for the resource API's audience. */
export function resource(setup: TargetSetup): Promise<RunningTarget & { seed: Seed }> {
  return serverWithAgent(setup, 'api');
}

/** (f) The MCP server of the same server: `tools/call` of `post_tweet` at `POST /mcp`, with a token for its audience. */
export function mcp(setup: TargetSetup): Promise<RunningTarget & { seed: Seed }> {
  return serverWithAgent(setup, 'mcp');
}

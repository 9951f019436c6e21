import { z } from 'zod';
import { AppError } from '../src/errors.js';
import { readBody } from '../src/http/body.js';
import type { Plugin, Tool } from '../src/plugins/plugin.js';
import { loadBuiltinPlugins } from '../src/plugins/load.js';
import { PluginRegistry } from '../src/plugins/registry.js';

export const BENCH_SCOPE = 'bench.post';
export const BENCH_PROVIDER = 'bench';
const Post = z.object({ text: z.string().min(1).max(280) });

/**
 * The MCP scenario's tool: X's `post_tweet` as agents see it (name, description, input and output schemas,
 * annotations), but needing the bench scope and running the bench action, so that an MCP call does exactly the work
 * of `POST /api/bench/posts` and the two rows differ only by the way in.
 */
async function benchPostTweet(): Promise<Tool> {
  const xPostTweet = new PluginRegistry(await loadBuiltinPlugins()).tools().find((tool) => tool.name === 'post_tweet');
  if (!xPostTweet) throw new Error('no built-in plugin has a post_tweet tool');
  return { ...xPostTweet, scope: BENCH_SCOPE, call: (args, call, kit) => kit.act(call, 'bench.post', { text: args.text }) };
}

/**
 * The benchmark's own plugin: `POST /api/bench/posts` goes through the real resource path — bearer check, scope,
 * the grant's policy (content rules), the owner's connection opened from the vault — then calls the local fake
 * upstream with the owner's key, as the X and Telegram plugins call theirs. Its `post_tweet` tool does the same at
 * `POST /mcp`.
 */
export async function benchPlugin(upstreamUrl: string): Promise<Plugin> {
  return {
    id: 'bench',
    scopes: [
      { name: BENCH_SCOPE, kind: 'resource', access: 'write', title: 'Benchmark posts', description: 'Posts to the benchmark upstream.' },
    ],
    credentialKinds: [{ id: 'bench.key', provider: BENCH_PROVIDER, title: 'Bench key', description: 'A key for the benchmark upstream.' }],
    errors: { bench_upstream_error: { status: 502, description: 'The benchmark upstream failed.' } },
    actions: [
      {
        id: 'bench.post',
        scope: BENCH_SCOPE,
        provider: BENCH_PROVIDER,
        input: Post,
        text: (p: z.output<typeof Post>) => p.text,
        async run(p: z.output<typeof Post>, access) {
          const res = await fetch(`${upstreamUrl}/posts`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-key': String(access.secret.key) },
            body: JSON.stringify(p),
          });
          if (!res.ok) throw new AppError('bench_upstream_error', 502, 'The benchmark upstream failed.');
          return res.json() as Promise<unknown>;
        },
      },
    ],
    tools: [await benchPostTweet()],
    routes(router, kit) {
      router.post('/bench/posts', async function benchPost(ctx) {
        // 200, as the bare proxy answers, so the load generator counts both the same way.
        await kit.perform(ctx, 'bench.post', await readBody(ctx), { status: 200 });
      });
    },
  };
}

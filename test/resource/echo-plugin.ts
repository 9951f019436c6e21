import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { AppError } from '../../src/errors.js';
import { readBody } from '../../src/http/body.js';
import { defineTool, type Plugin } from '../../src/plugins/plugin.js';
import { actionOutput } from '../../src/plugins/action-tool.js';

/** What the fake upstream received: the credential it was called with and the post. */
export interface EchoReceived {
  method: string;
  path: string;
  key: string | undefined;
  body: unknown;
}

/** A tiny upstream on 127.0.0.1: records every call, answers with an id. `fail` makes the next calls answer 500. */
export async function startEchoUpstream() {
  const received: EchoReceived[] = [];
  const state = { fail: false };
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => (text += chunk));
    req.on('end', () => {
      received.push({
        method: req.method!,
        path: req.url!,
        key: req.headers['x-echo-key'] as string | undefined,
        body: text ? JSON.parse(text) : undefined,
      });
      res.setHeader('content-type', 'application/json');
      if (state.fail) {
        res.statusCode = 500;
        res.end(JSON.stringify({ error: 'upstream broke' }));
        return;
      }
      res.end(JSON.stringify({ id: String(received.length), ok: true }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const PostInput = z.object({ text: z.string().min(1).max(1000) });

/**
 * A plugin made for the resource server's own tests: it knows nothing of X or Telegram, so these tests state what
 * the core does with any plugin (token, scope, policy, connection, access log).
 */
export function echoPlugin(upstreamUrl: () => string): Plugin {
  const call = async (path: string, key: string, body?: unknown) => {
    const res = await fetch(`${upstreamUrl()}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'x-echo-key': key, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new AppError('echo_upstream_error', 502, 'The echo upstream refused the call.');
    return (await res.json()) as { id: string };
  };
  return {
    id: 'echo',
    scopes: [
      { name: 'echo.read', kind: 'resource', access: 'read', title: 'Read echoes', description: 'Read from the echo upstream.' },
      { name: 'echo.post', kind: 'resource', access: 'write', title: 'Post echoes', description: 'Post to the echo upstream.' },
    ],
    credentialKinds: [{ id: 'echo.key', provider: 'echo', title: 'Echo key', description: 'A key for the echo upstream.' }],
    errors: { echo_upstream_error: { status: 502, description: 'The echo upstream refused the call.' } },
    actions: [
      {
        id: 'echo.post',
        scope: 'echo.post',
        provider: 'echo',
        input: PostInput,
        text: (p: z.output<typeof PostInput>) => p.text,
        run: async (p: z.output<typeof PostInput>, access) => {
          const { id } = await call('/posts', String(access.secret.key), { text: p.text });
          return { id, text: p.text };
        },
      },
    ],
    // Tools need nothing of MCP: a name, words, a scope, schemas and the same kit calls as the routes.
    tools: [
      defineTool({
        name: 'echo_me',
        title: 'Read the echo account',
        description: 'The connected echo account and what the upstream says of it.',
        scope: 'echo.read',
        input: z.object({}),
        output: z.object({ label: z.string(), upstream: z.object({ id: z.string() }) }),
        annotations: { readOnlyHint: true },
        async call(_args, callContext, kit) {
          const access = await kit.connection(callContext, 'echo');
          const { id } = await call('/me', String(access.secret.key));
          return { label: access.connection.label, upstream: { id } };
        },
      }),
      defineTool({
        name: 'echo_post',
        title: 'Post an echo',
        description: "Posts to the echo upstream within the owner's policy.",
        scope: 'echo.post',
        input: PostInput,
        output: actionOutput(z.object({ id: z.string(), text: z.string() })),
        call: (args, callContext, kit) => kit.act(callContext, 'echo.post', args),
      }),
    ],
    routes(router, kit) {
      router.get('/echo/me', kit.requireScope('echo.read'), async function readEcho(ctx) {
        const access = await kit.connection(ctx, 'echo');
        ctx.body = { label: access.connection.label, upstream: await call('/me', String(access.secret.key)) };
      });
      router.get('/echo/items/:id', kit.requireScope('echo.read'), async function readItem(ctx) {
        ctx.body = { id: z.string().regex(/^\d+$/).parse(ctx.params.id) };
      });
      router.post('/echo/posts', async function postEcho(ctx) {
        await kit.perform(ctx, 'echo.post', await readBody(ctx));
      });
    },
  };
}

import type { Context, Middleware } from 'koa';
import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import { readBody } from '../../http/body.js';
import { releaseVersion } from '../../paths.js';
import type { ApiCaller, Tool } from '../../plugins/plugin.js';
import { InsufficientScope } from '../errors.js';
import { mcpSdk, mcpServerFor } from './server.js';
import type { ToolRunner } from './tool-runner.js';

/** Where the MCP server answers on this host; its RFC 8707 resource (audience) is `Config.MCP_URL`. */
export const MCP_PATH = '/mcp';

/**
 * Streamable HTTP without sessions answers POST only: there is no stream to resume (GET) and no session to end
 * (DELETE), so both are 405 as the transport's specification allows.
 */
export const onlyPost: Middleware = async function onlyPost(ctx, next) {
  if (ctx.method !== 'POST') {
    ctx.set('Allow', 'POST');
    throw new AppError('method_not_allowed', 405, 'This MCP server is stateless: send every message with POST.');
  }
  await next();
};

/** What a browser-based client sends besides the simple headers, and what it must be able to read back. */
const CORS_REQUEST_HEADERS = 'Authorization, Content-Type, Accept, DPoP, Mcp-Protocol-Version, Mcp-Session-Id, Last-Event-ID';
const CORS_EXPOSED_HEADERS = 'WWW-Authenticate, Mcp-Protocol-Version, Mcp-Session-Id';

/**
 * DNS rebinding (MCP transport specification, security warning): a page on another origin that made the browser
 * reach this server is refused before anything else. Clients that are not browsers send no Origin at all. A page on
 * an origin MCP_ALLOWED_ORIGINS lists (a client running in the browser, such as the MCP Inspector) gets CORS: its
 * preflight is answered and it may read the answers, challenges included, so it can sign in.
 */
export function checkOrigin(config: Pick<Config, 'ORIGIN' | 'MCP_ALLOWED_ORIGINS'>): Middleware {
  const crossOrigins = new Set(config.MCP_ALLOWED_ORIGINS.filter((origin) => origin !== config.ORIGIN));
  return async function checkOrigin(ctx, next) {
    const origin = ctx.get('origin');
    ctx.vary('Origin');
    if (!origin || origin === config.ORIGIN) {
      await next();
      return;
    }
    if (!crossOrigins.has(origin)) {
      throw new AppError(
        'origin_not_allowed',
        403,
        'Requests from web pages on other origins are refused (MCP_ALLOWED_ORIGINS lists exceptions).',
      );
    }
    ctx.set('Access-Control-Allow-Origin', origin);
    ctx.set('Access-Control-Expose-Headers', CORS_EXPOSED_HEADERS);
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      ctx.set('Access-Control-Allow-Methods', 'POST');
      ctx.set('Access-Control-Allow-Headers', CORS_REQUEST_HEADERS);
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    await next();
  };
}

interface JsonRpcMessage {
  method?: unknown;
  params?: { name?: unknown };
}

/** The tool a JSON-RPC message calls: its name for a `tools/call` that gives one, else undefined. */
function calledTool(message: unknown): string | undefined {
  if (!message || typeof message !== 'object') return undefined;
  const { method, params } = message as JsonRpcMessage;
  return method === 'tools/call' && typeof params?.name === 'string' ? params.name : undefined;
}

/**
 * A `tools/call` whose token lacks the tool's scope is refused at the HTTP level, 403 `insufficient_scope`, naming the
 * scopes the token holds plus the one it needs: an MCP client re-authorizes with exactly that set (step-up) and
 * sends the call again. A tool this server does not have is left to the MCP server, which answers it as an error.
 */
export function requireToolScopes(tools: readonly Tool[]): Middleware {
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  return async function requireToolScopes(ctx, next) {
    const caller = ctx.state.caller as ApiCaller;
    const body = await readBody(ctx);
    for (const message of Array.isArray(body) ? body : [body]) {
      const name = calledTool(message);
      const tool = name === undefined ? undefined : byName.get(name);
      if (tool && !caller.scopes.has(tool.scope)) throw new InsufficientScope(tool.scope, [...caller.scopes, tool.scope]);
    }
    await next();
  };
}

/** The Koa request as the SDK's web-standard transport reads it; the body is already parsed (and size-limited). */
function webRequest(ctx: Context, issuer: string): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(ctx.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return new Request(new URL(MCP_PATH, issuer), { method: ctx.method, headers });
}

/**
 * The tools the request's server must hold: a `tools/call` of a tool we have needs that tool alone (every tool
 * registered costs each request a few microseconds, however many there are); anything else (initialize, tools/list,
 * a tool we do not have, which the server answers as it always does, a batch) gets every tool.
 */
export function toolsNeededBy(body: unknown, tools: readonly Tool[]): readonly Tool[] {
  const name = Array.isArray(body) ? undefined : calledTool(body);
  const tool = name === undefined ? undefined : tools.find((t) => t.name === name);
  return tool ? [tool] : tools;
}

/** Runs the request through a fresh MCP server and transport, and hands the transport's answer back to Koa. */
export function serveMcp(config: Pick<Config, 'ISSUER'>, tools: readonly Tool[], runTool: ToolRunner): Middleware {
  return async function serveMcp(ctx) {
    const server = await mcpServerFor(
      toolsNeededBy(await readBody(ctx), tools),
      runTool,
      { caller: ctx.state.caller as ApiCaller, ip: ctx.ip, requestId: ctx.state.requestId as string | undefined },
      releaseVersion,
    );
    // Stateless (no session id) and answered as one JSON document rather than an event stream: every call here is
    // request and response, with nothing to stream.
    const { WebStandardStreamableHTTPServerTransport } = await mcpSdk();
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    try {
      await server.connect(transport);
      const response = await transport.handleRequest(webRequest(ctx, config.ISSUER), { parsedBody: await readBody(ctx) });
      ctx.status = response.status;
      response.headers.forEach((value, name) => ctx.set(name, value));
      // An empty body keeps the transport's status (Koa would turn a null body into 204).
      ctx.body = response.body ? Buffer.from(await response.arrayBuffer()) : '';
    } finally {
      await server.close();
    }
  };
}

import type { Next } from 'koa';
import { z } from 'zod';
import { readBody } from '../http/body.js';
import { rememberSecrets } from '../http/request-secrets.js';
import {
  defineTool,
  type ApiContext,
  type ApiRouter,
  type CallContext,
  type PluginKit,
  type Tool,
  type UpstreamAccess,
} from '../plugins/plugin.js';
import type { ConnectionStore } from '../connections/store.js';
import type { ProviderLookup, UpstreamFetch, UpstreamProvider, UpstreamProviderConfig } from './provider-config.js';
import { isOwnProviderId, OWN_PROXY_SCOPE } from './own-ids.js';
import { notFound } from '../errors.js';
import { providerTitle, proxyScope } from './providers.js';
import { proxyTarget } from './safe-path.js';
import { reconnectRequired, translateFetchError, upstreamUnavailable } from './token-endpoint.js';
import type { UpstreamTokenService } from './tokens.js';

/** The only request and response headers that cross the proxy: never the caller's Authorization or cookies. */
const REQUEST_HEADERS = ['accept', 'content-type'] as const;
/** The longest upstream answer passed through; more is refused rather than buffered without bound. */
const MAX_RESPONSE_BYTES = 5 * 1024 * 1024;

/** `secret` replaced wherever it appears in `body`, raw or URL-encoded (an upstream echoing our Bearer, G2). */
function redact(body: Buffer, secrets: string[]): Buffer {
  let out = body;
  for (const secret of secrets.flatMap((s) => [s, encodeURIComponent(s)])) {
    const needle = Buffer.from(secret);
    const parts: Buffer[] = [];
    let from = 0;
    for (let at = out.indexOf(needle); at >= 0; at = out.indexOf(needle, from)) {
      parts.push(out.subarray(from, at), Buffer.from('[redacted]'));
      from = at + needle.length;
    }
    if (parts.length) out = Buffer.concat([...parts, out.subarray(from)]);
  }
  return out;
}

/** One call to forward: where, how, and the only headers and body that cross. */
interface Forwarded {
  /** Node's fetch, or for an owner's own provider the address-checked one (threat model G17). */
  fetch?: UpstreamFetch;
  method: string;
  target: URL;
  headers: Partial<Record<(typeof REQUEST_HEADERS)[number], string>>;
  body?: string;
}

interface Answer {
  status: number;
  contentType: string | null;
  body: Buffer;
}

export interface ProxyDeps {
  connections: ConnectionStore;
  tokens: UpstreamTokenService;
  timeoutMs: number;
}

/**
 * Sends one call to the provider's API with the owner's fresh access token and returns the answer with that token
 * redacted. A token refused with 401 is refreshed once and the call sent again; refused again, the connection is
 * marked for re-linking (G6). Shared by the `/api/upstream/…` route and the provider's MCP tool.
 */
async function forward(
  { connections, tokens, timeoutMs }: ProxyDeps,
  call: CallContext,
  access: UpstreamAccess,
  request: Forwarded,
): Promise<Answer> {
  const send = (token: string) =>
    (request.fetch ?? fetch)(request.target, {
      method: request.method,
      headers: { ...request.headers, authorization: `Bearer ${token}` },
      body: request.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  let token = access.accessToken!;
  try {
    let res = await send(token);
    if (res.status === 401) {
      // The token looked fresh but was refused: one refresh, then once more (G6 if it is refused again).
      await res.body?.cancel();
      token = await tokens.accessToken(access.connection, { rejected: token });
      rememberSecrets(call, { accessToken: token });
      res = await send(token);
      if (res.status === 401) {
        await res.body?.cancel();
        await connections.markNeedsRelink(access.connection, 'the provider refused a freshly refreshed access token');
        throw reconnectRequired();
      }
    }
    const raw = Buffer.from(await res.arrayBuffer());
    if (raw.length > MAX_RESPONSE_BYTES) throw upstreamUnavailable('the answer is too large');
    return { status: res.status, contentType: res.headers.get('content-type'), body: redact(raw, [token, access.accessToken!]) };
  } catch (error) {
    throw translateFetchError(error);
  }
}

async function requestBody(ctx: ApiContext): Promise<string | undefined> {
  if (ctx.method === 'GET' || ctx.method === 'HEAD' || (!ctx.request.length && !ctx.get('transfer-encoding'))) return undefined;
  // JSON or a form, at most 64 KiB (src/http/body.ts), re-encoded: nothing else is forwarded.
  const body = await readBody(ctx);
  return ctx.is('application/x-www-form-urlencoded')
    ? new URLSearchParams(body as Record<string, string>).toString()
    : JSON.stringify(body);
}

/**
 * `/api/upstream/<provider>/<path>` (scope `upstream:<provider>`): the generic proxied call for providers without a
 * plugin. The caller's request goes to the provider's API with the owner's fresh access token; the path stays under
 * the provider's allowed paths (G3) and the token never comes back (G2).
 */
export function registerProxyRoutes(
  router: ApiRouter,
  kit: PluginKit,
  providers: readonly UpstreamProviderConfig[],
  tokens: UpstreamTokenService,
  timeoutMs: number,
): void {
  const deps: ProxyDeps = { connections: kit.connections, tokens, timeoutMs };
  for (const provider of providers) {
    const apiBaseUrl = provider.apiBaseUrl;
    if (!apiBaseUrl) continue;
    const marker = `/upstream/${provider.id}/`;

    async function forwardRequest(ctx: ApiContext, _next: Next) {
      // The raw path (Koa's ctx.path is not percent-decoded), so encoded tricks are seen as sent.
      const rawPath = ctx.path.slice(ctx.path.indexOf(marker) + marker.length - 1);
      const target = proxyTarget(apiBaseUrl!, provider.allowedPaths, rawPath, ctx.querystring);
      const access = await kit.connection(ctx, provider.id);
      const headers: Forwarded['headers'] = {};
      for (const name of REQUEST_HEADERS) if (ctx.get(name)) headers[name] = ctx.get(name);
      const answer = await forward(deps, ctx, access, { method: ctx.method, target, headers, body: await requestBody(ctx) });
      ctx.status = answer.status;
      if (answer.contentType) ctx.type = answer.contentType;
      ctx.body = answer.body;
    }

    router.all(`${marker}*path`, kit.requireScope(proxyScope(provider.id)), forwardRequest);
  }
}

const Method = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** What a proxy tool takes: the request to make, as the proxied route would receive it. */
const requestArguments = (pathHelp: string) => ({
  method: Method.default('GET'),
  path: z.string().min(1).max(2048).describe(pathHelp),
  query: z.record(z.string(), z.string()).optional().describe('Query parameters.'),
  body: z.unknown().optional().describe('A JSON body, for POST, PUT and PATCH.'),
});

/** What a proxy tool answers: the upstream's status and body as it gave them. */
const ProxiedAnswer = z.object({ status: z.number().int(), content_type: z.string().nullable(), body: z.unknown() });

/** The provider's answer as a tool returns it: JSON parsed, text as text, anything else described. */
function readable(answer: Answer): unknown {
  const type = answer.contentType ?? '';
  const text = answer.body.toString('utf8');
  if (/\bjson\b/i.test(type)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  if (type.startsWith('text/') || !type) return text;
  return `(${answer.body.length} bytes of ${type})`;
}

/**
 * One MCP tool per provider with an API (`upstream_<provider>`, scope `upstream:<provider>`): the same call as the
 * proxied route, with the path, query and JSON body as arguments.
 */
export function proxyTools(providers: readonly UpstreamProviderConfig[], deps: ProxyDeps): Tool[] {
  return providers
    .filter((provider) => provider.apiBaseUrl)
    .map((provider) =>
      defineTool({
        name: `upstream_${provider.id}`,
        title: `Call the ${providerTitle(provider)} API`,
        description:
          `Calls the ${providerTitle(provider)} API as the owner's connected account, under these paths only: ` +
          `${provider.allowedPaths.join(', ')}. The answer's status and body come back as the API gave them.`,
        scope: proxyScope(provider.id),
        input: z.object(requestArguments(`The API path, starting with /, under ${provider.allowedPaths.join(' or ')}.`)).strict(),
        output: ProxiedAnswer,
        annotations: { openWorldHint: true },
        async call(args, call, kit) {
          const query = args.query ? new URLSearchParams(args.query).toString() : '';
          const target = proxyTarget(provider.apiBaseUrl!, provider.allowedPaths, args.path, query);
          const access = await kit.connection(call, provider.id);
          const hasBody = args.body !== undefined && args.method !== 'GET';
          const answer = await forward(deps, call, access, {
            method: args.method,
            target,
            headers: { accept: 'application/json', ...(hasBody ? { 'content-type': 'application/json' } : {}) },
            body: hasBody ? JSON.stringify(args.body) : undefined,
          });
          return { status: answer.status, content_type: answer.contentType, body: readable(answer) };
        },
      }),
    );
}

/** An owner's own provider with an API, for this caller's owner only: another owner's id is unknown, like a made-up one. */
async function ownProvider(lookup: ProviderLookup, call: CallContext, id: string): Promise<UpstreamProvider & { apiBaseUrl: string }> {
  const accountId = call.state.caller?.accountId ?? '';
  const provider = isOwnProviderId(id) && accountId ? await lookup(id, accountId) : undefined;
  if (!provider?.apiBaseUrl) throw notFound('unknown_provider', 'You have no service of your own with this id and an API base URL.');
  return provider as UpstreamProvider & { apiBaseUrl: string };
}

/**
 * `/api/upstream/own-<slug>/<path>` (scope `upstream:own`): the proxied call to one of the token owner's own OAuth
 * apps (docs/architecture.md#owners-own-oauth-apps), with the same checks as the operator's providers (G2, G3, G6)
 * and every request through the address-checked fetch (G17). Registered after the operator's routes.
 */
export function registerOwnProxyRoute(router: ApiRouter, kit: PluginKit, lookup: ProviderLookup, deps: ProxyDeps): void {
  async function forwardOwn(ctx: ApiContext, _next: Next) {
    const id = ctx.params.provider ?? '';
    const provider = await ownProvider(lookup, ctx, id);
    const marker = `/upstream/${id}/`;
    const rawPath = ctx.path.slice(ctx.path.indexOf(marker) + marker.length - 1);
    const target = proxyTarget(provider.apiBaseUrl, provider.allowedPaths, rawPath, ctx.querystring);
    const access = await kit.connection(ctx, provider.id);
    const headers: Forwarded['headers'] = {};
    for (const name of REQUEST_HEADERS) if (ctx.get(name)) headers[name] = ctx.get(name);
    const answer = await forward(deps, ctx, access, {
      fetch: provider.fetch,
      method: ctx.method,
      target,
      headers,
      body: await requestBody(ctx),
    });
    ctx.status = answer.status;
    if (answer.contentType) ctx.type = answer.contentType;
    ctx.body = answer.body;
  }

  /** Any other id names no route (the operator's have their own): 404 as for any unknown path, whatever the scopes. */
  async function onlyOwnIds(ctx: ApiContext, next: Next) {
    if (!isOwnProviderId(ctx.params.provider ?? '')) throw notFound('not_found', 'No such resource API route.');
    await next();
  }

  router.all('/upstream/:provider/*path', onlyOwnIds, kit.requireScope(OWN_PROXY_SCOPE), forwardOwn);
}

/** `upstream_own` (scope `upstream:own`): the same call as the route, to one of the owner's own OAuth apps. */
export function ownProxyTool(lookup: ProviderLookup, deps: ProxyDeps): Tool {
  return defineTool({
    name: 'upstream_own',
    title: 'Call a service the owner connected with their own OAuth app',
    description:
      "Calls the API of a service the owner added themselves in Connected accounts (its id starts with own-), as the owner's " +
      "connected account, under the paths the owner allowed. The answer's status and body come back as the API gave them.",
    scope: OWN_PROXY_SCOPE,
    input: z
      .object({
        provider: z
          .string()
          .regex(/^own-[a-z0-9][a-z0-9-]{0,27}$/)
          .describe('The service id, such as own-my-calendar.'),
        ...requestArguments('The API path, starting with /.'),
      })
      .strict(),
    output: ProxiedAnswer,
    annotations: { openWorldHint: true },
    async call(args, call, kit) {
      const provider = await ownProvider(lookup, call, args.provider);
      const query = args.query ? new URLSearchParams(args.query).toString() : '';
      const target = proxyTarget(provider.apiBaseUrl, provider.allowedPaths, args.path, query);
      const access = await kit.connection(call, provider.id);
      const hasBody = args.body !== undefined && args.method !== 'GET';
      const answer = await forward(deps, call, access, {
        fetch: provider.fetch,
        method: args.method,
        target,
        headers: { accept: 'application/json', ...(hasBody ? { 'content-type': 'application/json' } : {}) },
        body: hasBody ? JSON.stringify(args.body) : undefined,
      });
      return { status: answer.status, content_type: answer.contentType, body: readable(answer) };
    },
  });
}

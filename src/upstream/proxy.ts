import type { Next } from 'koa';
import { readBody } from '../http/body.js';
import { rememberSecrets } from '../http/request-secrets.js';
import type { ApiContext, ApiRouter, PluginKit, UpstreamAccess } from '../plugins/plugin.js';
import type { UpstreamProviderConfig } from './provider-config.js';
import { proxyScope } from './providers.js';
import { proxyTarget } from './safe-path.js';
import { reconnectRequired, translateFetchError, upstreamUnavailable } from './token-endpoint.js';
import type { UpstreamTokenService } from './tokens.js';

/** The only request and response headers that cross the proxy: never the caller's Authorization or cookies. */
const REQUEST_HEADERS = ['accept', 'content-type'] as const;
/** The longest upstream answer passed through; more is refused rather than buffered without bound. */
const MAX_RESPONSE_BYTES = 5 * 1024 * 1024;

interface ProxyState {
  target: URL;
  access: UpstreamAccess;
}

const proxyState = new WeakMap<ApiContext, Partial<ProxyState>>();
const stateOf = (ctx: ApiContext) => proxyState.get(ctx) ?? proxyState.set(ctx, {}).get(ctx)!;

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
  for (const provider of providers) {
    const apiBaseUrl = provider.apiBaseUrl;
    if (!apiBaseUrl) continue;
    const marker = `/upstream/${provider.id}/`;

    async function resolveTarget(ctx: ApiContext, next: Next) {
      // The raw path (Koa's ctx.path is not percent-decoded), so encoded tricks are seen as sent.
      const rawPath = ctx.path.slice(ctx.path.indexOf(marker) + marker.length - 1);
      stateOf(ctx).target = proxyTarget(apiBaseUrl!, provider.allowedPaths, rawPath, ctx.querystring);
      await next();
    }

    async function openConnection(ctx: ApiContext, next: Next) {
      const access = await kit.connection(ctx, provider.id);
      rememberSecrets(ctx, { accessToken: access.accessToken });
      stateOf(ctx).access = access;
      await next();
    }

    async function forward(ctx: ApiContext) {
      const { target, access } = stateOf(ctx) as ProxyState;
      const body = await requestBody(ctx);
      const send = (token: string) => {
        const headers: Record<string, string> = { authorization: `Bearer ${token}` };
        for (const name of REQUEST_HEADERS) if (ctx.get(name)) headers[name] = ctx.get(name);
        return fetch(target, { method: ctx.method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
      };
      let token = access.accessToken!;
      let res: Response;
      try {
        res = await send(token);
        if (res.status === 401) {
          // The token looked fresh but was refused: one refresh, then once more (G6 if it is refused again).
          await res.body?.cancel();
          token = await tokens.accessToken(access.connection, { rejected: token });
          rememberSecrets(ctx, { accessToken: token });
          res = await send(token);
          if (res.status === 401) {
            await res.body?.cancel();
            await kit.connections.markNeedsRelink(access.connection, 'the provider refused a freshly refreshed access token');
            throw reconnectRequired();
          }
        }
        const raw = Buffer.from(await res.arrayBuffer());
        if (raw.length > MAX_RESPONSE_BYTES) throw upstreamUnavailable('the answer is too large');
        ctx.status = res.status;
        const type = res.headers.get('content-type');
        if (type) ctx.type = type;
        ctx.body = redact(raw, [token, access.accessToken!]);
      } catch (error) {
        throw translateFetchError(error);
      }
    }

    router.all(`${marker}*path`, kit.requireScope(proxyScope(provider.id)), resolveTarget, openConnection, forward);
  }
}

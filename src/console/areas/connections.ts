import type Router from '@koa/router';
import type { Context } from 'koa';
import { z, type ZodError } from 'zod';
import { AppError, notFound } from '../../errors.js';
import { pathParam } from '../../http/guard.js';
import type { Connection } from '../../connections/store.js';
import type { CredentialKind, VerifiedCredential } from '../../plugins/plugin.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { connectWays, providerTitles } from '../../connections/ways.js';
import { backTo, noticeFrom } from '../../web/notices.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { consolePage, type ConsolePageInput } from '../views/layout.js';
import { connectionsBody, connectProviderBody, type ConnectProblem, type ConnectWay, type OwnAppProblem } from '../views/connections.js';
import type { OwnerProviderView } from '../../upstream/owner-providers.js';
import { callbackUrl, interactionReturnTo } from '../../upstream/connect.js';

const ConnectionId = z.string().regex(/^con_[A-Za-z0-9_-]{1,64}$/);
/** Upstream provider ids, as src/upstream/provider-config.ts allows them. */
const ProviderId = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/);
/** An owner's own OAuth app, as src/upstream/owner-providers.ts names them. */
const OwnId = z.string().regex(/^own-[a-z0-9][a-z0-9-]{0,27}$/);
const RETURN_TO = '/console/connections';

const MESSAGES = {
  connected: 'Account connected. Apps you allowed can use it now.',
  own_saved: 'Service saved. Press Connect next to it to sign in there and approve oauth3.',
  own_removed: 'Service removed. Its account was disconnected and oauth3 no longer holds its client secret.',
  disconnected: 'Account disconnected. Apps can no longer use it; oauth3 no longer holds its credential.',
};

const connectionJson = (c: Connection) => ({
  id: c.id,
  provider: c.provider,
  kind: c.kind,
  label: c.label,
  status: c.status,
  needs_relink: c.status === 'needs_relink',
  last_error: c.lastError ?? null,
  created_at: c.createdAt.toISOString(),
  last_used_at: c.lastUsedAt?.toISOString() ?? null,
});

const wayJson = (w: ConnectWay) => ({
  id: w.id,
  provider: w.provider,
  title: w.title,
  description: w.description,
  method: w.paste ? 'paste' : 'oauth',
  ...(w.paste ? { fields: w.paste.fields, ...(w.paste.guide ? { guide: w.paste.guide } : {}) } : {}),
  ...(w.oauth ? { oauth_provider: w.oauth.provider } : {}),
});

/** The first problem zod found, naming the form field in the page's words. */
function fieldProblem(kind: CredentialKind, error: ZodError): string {
  const issue = error.issues[0];
  const name = String(issue?.path[0] ?? '');
  const label = kind.paste?.fields.find((f) => f.name === name)?.label ?? (name || 'Form');
  return `${label}: ${issue?.message ?? 'invalid input'}`;
}

/**
 * /console/connections and /console/api/connections: the upstream accounts oauth3 acts with.
 * Pasted credentials are checked with the upstream before they are saved; OAuth connects start here and come back
 * through /connections/callback. No response ever carries a credential, not even the one just pasted.
 */
export function connectionsArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);
  const { registry, connections } = deps.resource;

  const ways = (own: readonly OwnerProviderView[] = []) => connectWays(registry, deps.upstream, own);

  /** This owner's own OAuth apps (none when the server offers the feature to no one). */
  const ownOf = async (ctx: Context): Promise<OwnerProviderView[]> =>
    deps.upstream.own ? deps.upstream.own.list(ownerOf(ctx).accountId) : [];

  const titles = (own: readonly OwnerProviderView[]) => providerTitles(deps.upstream, own);
  const howOf = (providerTitle: (provider: string) => string) => (c: Connection) =>
    c.kind === 'oauth2' ? `Signed in with ${providerTitle(c.provider)}` : (registry.credentialKind(c.kind)?.title ?? c.kind);

  /**
   * Checks a pasted credential with its upstream, then seals and saves it. Error descriptions are scrubbed of what
   * was pasted, and foreign errors (which may quote a URL holding a bot token) are replaced, not logged.
   */
  async function connect(ctx: Context, body: Record<string, unknown>): Promise<Connection> {
    const kind = typeof body.kind === 'string' ? registry.credentialKind(body.kind) : undefined;
    if (!kind?.paste) throw new AppError('unknown_kind', 400, 'This server has no way to connect an account of that kind.');
    const { kind: _kind, csrf: _csrf, return_to: _returnTo, ...fields } = body;
    const secrets = Object.values(fields).filter((v): v is string => typeof v === 'string' && v.length >= 6);
    const scrub = (text: string) => secrets.reduce((out, secret) => out.split(secret).join('…'), text);

    const input = kind.paste.input.safeParse(fields);
    if (!input.success) throw new AppError('invalid_request', 400, scrub(fieldProblem(kind, input.error)));
    let verified: VerifiedCredential;
    try {
      verified = await kind.paste.verify(input.data, { config: deps.config, logger: deps.logger });
    } catch (error) {
      // The plugin's own errors keep their code and status (400 invalid_credential, 502 upstream unreachable).
      if (error instanceof AppError)
        throw new AppError(error.code, error.status, scrub(error.description), {
          expose: error.expose || [502, 503, 504].includes(error.status),
        });
      deps.logger.warn({ kind: kind.id, error: error instanceof Error ? error.name : typeof error }, 'credential check failed');
      throw new AppError('upstream_error', 502, 'The service could not check this credential. Try again later.', { expose: true });
    }

    const accountId = ownerOf(ctx).accountId;
    const connection = await connections.save(accountId, {
      provider: kind.provider,
      kind: kind.id,
      label: verified.label,
      secret: verified.secret,
      ...(verified.meta ? { meta: verified.meta } : {}),
    });
    await deps.events.record({
      kind: 'connection.added',
      accountId,
      ip: ctx.ip,
      detail: { provider: kind.provider, kind: kind.id, label: connection.label },
    });
    return connection;
  }

  /** The authorization URL of an OAuth connect; only providers offered on the page can be started. */
  async function startOAuth(ctx: Context): Promise<string> {
    const id = ProviderId.safeParse(pathParam(ctx, 'provider'));
    const way = id.success ? ways(await ownOf(ctx)).find((w) => w.oauth?.provider === id.data) : undefined;
    if (!way) throw notFound('unknown_provider', 'This server has no such account to connect.');
    const body: unknown = ctx.state.body;
    const back = interactionReturnTo((body as Record<string, unknown> | undefined)?.return_to);
    return deps.upstream.start(ownerOf(ctx).accountId, way.oauth!.provider, back ?? RETURN_TO);
  }

  /** Another owner's connection is "not found", exactly like an unknown one, and stays connected. */
  async function disconnect(ctx: Context): Promise<void> {
    const accountId = ownerOf(ctx).accountId;
    const id = ConnectionId.safeParse(pathParam(ctx, 'id'));
    const connection = id.success ? await connections.findById(accountId, id.data) : undefined;
    if (!connection) throw notFound('not_found', 'No such connected account.');
    // oauth3 gives back what it held: the provider revokes the tokens, so nothing of it outlives the disconnect.
    await deps.upstream.revoke?.(connection);
    if (!(await connections.remove(accountId, connection.id))) throw notFound('not_found', 'No such connected account.');
    await deps.events.record({
      kind: 'connection.removed',
      accountId,
      ip: ctx.ip,
      detail: { provider: connection.provider, kind: connection.kind, label: connection.label },
    });
  }

  async function page(
    ctx: Context,
    problem?: ConnectProblem,
    notice: ConsolePageInput['notice'] = noticeFrom(ctx, MESSAGES),
    ownProblem?: OwnAppProblem,
  ) {
    const csrf = csrfFor(ctx);
    const own = await ownOf(ctx);
    const providerTitle = titles(own);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Connected accounts',
      active: '/console/connections',
      csrf,
      notice,
      body: connectionsBody({
        connections: await connections.list(ownerOf(ctx).accountId),
        ways: ways(own),
        csrf,
        problem,
        howOf: howOf(providerTitle),
        providerTitle,
        ...(deps.upstream.own ? { ownApps: { apps: own, redirectUri: callbackUrl(deps.config), problem: ownProblem } } : {}),
      }),
    });
  }

  const bodyOf = (ctx: Context): Record<string, unknown> => {
    const body: unknown = ctx.state.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AppError('invalid_request', 400, 'Send a JSON object.');
    return body as Record<string, unknown>;
  };

  router.get('/console/connections', async function showConnections(ctx) {
    await page(ctx);
  });

  /** One provider's connect page, with the consent page to go back to (if any) and a refused paste form's problem. */
  async function providerPage(ctx: Context, providerId: unknown, returnTo: string | undefined, problem?: ConnectProblem) {
    const id = ProviderId.safeParse(providerId);
    const own = await ownOf(ctx);
    const offered = id.success ? ways(own).filter((w) => w.provider === id.data) : [];
    if (!id.success || !offered.length) throw notFound('unknown_provider', 'This server has no such account to connect.');
    const title = providerTitles(deps.upstream, own)(id.data);
    const csrf = csrfFor(ctx);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: `Connect ${title}`,
      active: '/console/connections',
      csrf,
      body: connectProviderBody({
        title,
        ways: offered,
        csrf,
        connected: await connections.find(ownerOf(ctx).accountId, id.data),
        ...(returnTo ? { returnTo } : {}),
        ...(problem ? { problem } : {}),
      }),
    });
  }

  // The bot's /connect and the consent page ("You have not connected X yet") link here: a page of the console (so a
  // signed-out owner signs in first and comes back) whose buttons post to the routes above with this browser's CSRF
  // token. `return_to` is taken only as a consent page of this server (/interaction/<uid>), never as any other URL.
  router.get('/console/connections/connect/:provider', async function showConnectProvider(ctx) {
    await providerPage(ctx, pathParam(ctx, 'provider'), interactionReturnTo(ctx.query.return_to));
  });

  router.get('/console/api/connections', async function listConnections(ctx) {
    ctx.body = {
      connections: (await connections.list(ownerOf(ctx).accountId)).map(connectionJson),
      ways: ways(await ownOf(ctx)).map(wayJson),
    };
  });

  router.post('/console/api/connections', ...mutate, async function connectByApi(ctx) {
    const connection = await connect(ctx, bodyOf(ctx));
    ctx.status = 201;
    ctx.body = { connection: connectionJson(connection) };
  });

  router.post('/console/connections', ...mutate, async function connectFromPage(ctx) {
    const body = bodyOf(ctx);
    const returnTo = interactionReturnTo(body.return_to);
    try {
      await connect(ctx, body);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      const kindId = typeof body.kind === 'string' ? body.kind : '';
      // Typed values come back into the form, except secrets (the view leaves password fields empty as well).
      const echoable = new Set(
        registry
          .credentialKind(kindId)
          ?.paste?.fields.filter((f) => f.type !== 'password')
          .map((f) => f.name),
      );
      const values = Object.fromEntries(Object.entries(body).filter(([k, v]) => echoable.has(k) && typeof v === 'string')) as Record<
        string,
        string
      >;
      const message = error.expose ? error.description : 'Something went wrong on our side. Try again later.';
      ctx.status = error.status;
      const way = ways(await ownOf(ctx)).find((w) => w.id === kindId);
      // From a consent page's link: the same one-provider page again, still leading back to the consent.
      if (way && returnTo) return providerPage(ctx, way.provider, returnTo, { kindId, message, values });
      await page(ctx, { kindId, message, values }, way ? undefined : { kind: 'error', text: message });
      return;
    }
    if (returnTo) {
      ctx.status = 303;
      ctx.redirect(returnTo);
      return;
    }
    backTo(ctx, RETURN_TO, 'connected');
  });

  router.post('/console/api/connections/oauth/:provider', ...mutate, async function startConnectByApi(ctx) {
    ctx.body = { authorization_url: await startOAuth(ctx) };
  });

  router.post('/console/connections/oauth/:provider', ...mutate, async function startConnectFromPage(ctx) {
    const url = await startOAuth(ctx);
    ctx.status = 303;
    ctx.redirect(url);
  });

  router.delete('/console/api/connections/:id', ...mutate, async function disconnectByApi(ctx) {
    await disconnect(ctx);
    ctx.body = { removed: true };
  });

  router.post('/console/connections/:id/disconnect', ...mutate, async function disconnectFromPage(ctx) {
    await disconnect(ctx);
    backTo(ctx, RETURN_TO, 'disconnected');
  });

  registerOwnAppRoutes(router, deps, mutate, bodyOf, page);
}

type PageFn = (ctx: Context, problem?: ConnectProblem, notice?: ConsolePageInput['notice'], ownProblem?: OwnAppProblem) => Promise<void>;

/** The form's fields as the store reads them: checkboxes are `on` or absent, empty text is "not given". */
function ownAppInput(body: Record<string, unknown>, fromForm: boolean): Record<string, unknown> {
  const { csrf: _csrf, ...fields } = body;
  if (!fromForm) return fields;
  const text = (name: string) => (typeof fields[name] === 'string' ? fields[name] : '');
  return {
    title: text('title'),
    authorizationUrl: text('authorizationUrl'),
    tokenUrl: text('tokenUrl'),
    clientId: text('clientId'),
    ...(text('clientSecret') ? { clientSecret: text('clientSecret') } : {}),
    removeSecret: fields.removeSecret === 'on',
    scopes: text('scopes'),
    usePkce: fields.usePkce === 'on',
    tokenAuthMethod: text('tokenAuthMethod') || 'basic',
    ...(text('apiBaseUrl').trim() ? { apiBaseUrl: text('apiBaseUrl') } : {}),
    allowedPaths: text('allowedPaths'),
  };
}

/**
 * "Connect another service with your own OAuth app": the owner's own providers (src/upstream/owner-providers.ts),
 * added, changed and removed here only. No answer ever carries the client secret, only whether one is set.
 */
function registerOwnAppRoutes(
  router: Router,
  deps: ConsoleDeps,
  mutate: ReturnType<typeof consoleStages>['mutate'],
  bodyOf: (ctx: Context) => Record<string, unknown>,
  page: PageFn,
): void {
  const own = deps.upstream.own;
  if (!own) return;

  const idOf = (ctx: Context) => {
    const id = OwnId.safeParse(pathParam(ctx, 'provider'));
    if (!id.success) throw notFound('not_found', 'No such service of yours.');
    return id.data;
  };

  async function save(ctx: Context, fromForm: boolean, id?: string): Promise<OwnerProviderView> {
    const accountId = ownerOf(ctx).accountId;
    const saved = await own!.save(accountId, ownAppInput(bodyOf(ctx), fromForm), id);
    await deps.events.record({ kind: 'own_app.saved', accountId, ip: ctx.ip, detail: { provider: saved.id, title: saved.title } });
    return saved;
  }

  async function remove(ctx: Context): Promise<void> {
    const accountId = ownerOf(ctx).accountId;
    const id = idOf(ctx);
    if (!(await deps.upstream.removeOwn?.(accountId, id))) throw notFound('not_found', 'No such service of yours.');
    await deps.events.record({ kind: 'own_app.removed', accountId, ip: ctx.ip, detail: { provider: id } });
  }

  /** A refused form comes back filled in, except the secret (the page would otherwise hold it). */
  async function savedFromPage(ctx: Context, id?: string) {
    try {
      await save(ctx, true, id);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      const { clientSecret: _secret, csrf: _csrf, ...values } = bodyOf(ctx);
      ctx.status = error.status;
      await page(ctx, undefined, undefined, {
        ...(id ? { id } : {}),
        message: error.description,
        values: Object.fromEntries(Object.entries(values).filter((e): e is [string, string] => typeof e[1] === 'string')),
      });
      return;
    }
    backTo(ctx, RETURN_TO, 'own_saved');
  }

  router.get('/console/api/connections/own', async function listOwnApps(ctx) {
    ctx.body = { providers: await own.list(ownerOf(ctx).accountId), redirect_uri: callbackUrl(deps.config) };
  });
  router.post('/console/api/connections/own', ...mutate, async function addOwnAppByApi(ctx) {
    ctx.status = 201;
    ctx.body = { provider: await save(ctx, false) };
  });
  router.patch('/console/api/connections/own/:provider', ...mutate, async function changeOwnAppByApi(ctx) {
    ctx.body = { provider: await save(ctx, false, idOf(ctx)) };
  });
  router.delete('/console/api/connections/own/:provider', ...mutate, async function removeOwnAppByApi(ctx) {
    await remove(ctx);
    ctx.body = { removed: true };
  });
  router.post('/console/connections/own', ...mutate, async function addOwnAppFromPage(ctx) {
    await savedFromPage(ctx);
  });
  router.post('/console/connections/own/:provider', ...mutate, async function changeOwnAppFromPage(ctx) {
    await savedFromPage(ctx, idOf(ctx));
  });
  router.post('/console/connections/own/:provider/delete', ...mutate, async function removeOwnAppFromPage(ctx) {
    await remove(ctx);
    backTo(ctx, RETURN_TO, 'own_removed');
  });
}

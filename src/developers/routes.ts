import Router from '@koa/router';
import type { z } from 'zod';
import type { Context, Middleware } from 'koa';
import { FormFields, guard, pathParam } from '../http/guard.js';
import type Provider from 'oidc-provider';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { AccountStore } from '../accounts/accounts.js';
import type { EventLog } from '../accounts/events.js';
import { systemClock, type Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { csrfToken, requireCsrf, requireSameOrigin } from '../http/guards.js';
import { loadOwner, ownerOf } from '../accounts/owner-session.js';
import { backTo, noticeFrom } from '../web/notices.js';
import type { ClientKind, ClientRecord, ClientStore } from '../clients/store.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import type { LiveSecret } from '../clients/secrets.js';
import { DeveloperApps, notFoundApp, type Actor } from './apps.js';
import { AppFields, ClientIdParam, fieldsFromForm, NewApp, Rotation, withKnownScopes } from './input.js';
import { developerPage } from './views/layout.js';
import { appProblems, checkApp, checkAppForm, countProblems, problemsFrom, type FormProblems } from './form-problems.js';
import { appBody, appFormBody, appListBody, draftOf, exchanges, type AppDraft } from './views/apps.js';
import { sendSkillDocument } from './skill-route.js';
import type { SkillTool } from './skill.js';
import type { ApiCallDoc } from '../plugins/plugin.js';
import { createRouter } from '../http/router.js';
import { OneTimeView } from '../accounts/one-time-view.js';

/** A form field as typed, for a form shown again; a field that is not text shows empty. */
const formText = (value: unknown): string => (typeof value === 'string' ? value : '');

export interface DeveloperDeps {
  config: Config;
  provider: Provider;
  db: Database;
  accounts: AccountStore;
  events: EventLog;
  cookieKeys: string[];
  clock?: Clock;
  clients: ClientStore;
  scopes: ScopeCatalog;
  /** The resource API calls the plugins document (PluginRegistry.apiCalls), for the skill document. */
  apiCalls?: () => ApiCallDoc[];
  /** The MCP server's tools (name, title, scope), for the skill document. */
  mcpTools?: readonly SkillTool[];
}

const MESSAGES = {
  updated: 'Changes saved. They apply from the next request of the app.',
  registered: 'App registered.',
  deactivated: 'App deactivated. Its grants and tokens are revoked.',
  reactivated: 'App reactivated. Owners approve it again on their next sign-in.',
  deleted: 'App deleted, with every grant and token it held.',
};

/** After a form made a secret (registration, rotation, revoke every secret): the secret on this one view, or that it is gone. */
const SHOWN: Record<string, { shown: string; gone: string }> = {
  registered: {
    shown: 'App registered. Copy its secret now: it is shown only once.',
    gone: 'App registered. Its secret was shown once and is not shown again. If you did not copy it, rotate the secret below.',
  },
  rotated: {
    shown: 'Secret rotated. Copy the new one now: it is shown only once.',
    gone: 'The new secret was shown once and is not shown again. If you did not copy it, rotate the secret again.',
  },
  revoked: {
    shown: 'Every earlier secret stopped working. Here is a fresh one: copy it now, it is shown only once.',
    gone: 'Every earlier secret stopped working. The fresh one was shown once and is not shown again; if you did not copy it, rotate the secret.',
  },
};
/** What waits in the one-time view for the app's page: the secret, and what became of the one a rotation replaced. */
interface KeptSecret {
  secret: string;
  /** Until when the replaced secret works (ISO text), after a rotation with a grace period. */
  oldWorksUntil?: string;
  /** The replaced secret stopped working at once (a rotation without grace). */
  oldStopped?: boolean;
}

const appJson = (app: ClientRecord, secrets?: LiveSecret[]) => ({
  client_id: app.clientId,
  kind: app.kind,
  name: app.name,
  description: app.description ?? null,
  logo_uri: app.logoUri ?? null,
  homepage: app.homepage ?? null,
  redirect_uris: app.redirectUris,
  scopes: app.scope?.split(' ') ?? [],
  grant_types: app.grantTypes,
  token_exchange: exchanges(app),
  token_endpoint_auth_method: app.public ? 'none' : 'client_secret_basic',
  active: !app.disabledAt,
  created_at: app.createdAt,
  updated_at: app.updatedAt,
  ...(secrets ? { secrets: secrets.map((s) => ({ id: s.id, created_at: s.createdAt, expires_at: s.expiresAt })) } : {}),
});

/**
 * The developer portal: pages under /developers, the same operations as JSON under /developers/api. Developers are
 * ordinary owners signed in with a passkey through the console's sign-in (src/console/first-party.ts).
 */
export function developerRoutes(deps: DeveloperDeps): Router {
  const { config } = deps;
  const apps = new DeveloperApps(
    deps.db,
    deps.events,
    deps.clock ?? systemClock,
    { perHour: config.DEVELOPER_APPS_PER_HOUR, max: config.DEVELOPER_APPS_MAX },
    deps.clients,
  );
  // The console's CSRF subject: one token per browser session serves both the console and the portal.
  const subject = (ctx: Context) => `console:${ownerOf(ctx).sessionUid}`;
  const mutate = [requireSameOrigin(config.ORIGIN), requireCsrf(deps.cookieKeys, subject)];
  const csrfFor = (ctx: Context) => csrfToken(deps.cookieKeys, subject(ctx));
  const actor = (ctx: Context): Actor => ({ accountId: ownerOf(ctx).accountId, ip: ctx.ip });
  /** A malformed id is simply an unknown app (F4: nothing tells ids apart). */
  const clientIdOf = (ctx: Context): string => {
    const id = ClientIdParam.safeParse(pathParam(ctx, 'clientId'));
    if (!id.success) throw notFoundApp();
    return id.data;
  };
  /** Another developer's app is "not found" before anything about the request is said (F4). */
  const ownApp: Middleware = async (ctx, next) => {
    await apps.get(ownerOf(ctx).accountId, clientIdOf(ctx));
    await next();
  };
  // Secrets in a response: never cached anywhere (threat model D3 for pages; the JSON API too).
  const noStore = (ctx: Context) => ctx.set('Cache-Control', 'no-store');

  type Notice = { kind: 'ok' | 'error'; text: string } | undefined;
  const page = (
    ctx: Context,
    title: string,
    active: string,
    body: Parameters<typeof developerPage>[0]['body'],
    notice: Notice = noticeFrom(ctx, MESSAGES),
  ) => {
    ctx.type = 'html';
    ctx.body = developerPage({ title, active, body, csrf: csrfFor(ctx), notice });
  };
  /**
   * POST, redirect, GET (src/accounts/one-time-view.ts): a new secret waits in a one-time slot for the app's page,
   * so a reload shows the page and never registers or rotates again, and the secret is never in a URL.
   */
  const once = new OneTimeView(deps.cookieKeys, config.ISSUER.startsWith('https:'));
  const appPath = (clientId: string) => `/developers/apps/${clientId}`;
  const showSecretOnce = (ctx: Context, clientId: string, done: keyof typeof SHOWN, kept: KeptSecret) => {
    once.put(ctx, appPath(clientId), kept);
    backTo(ctx, appPath(clientId), done);
  };
  /** An app's page; after a form that made a secret (`?done=`), the secret this once, or (on a reload) that it is gone. */
  const appPage = async (ctx: Context, clientId: string) => {
    const { app, secrets } = await apps.get(ownerOf(ctx).accountId, clientId);
    // A public app has no secret: its registration is an ordinary notice.
    const words = typeof ctx.query.done === 'string' && !app.public ? SHOWN[ctx.query.done] : undefined;
    const newSecret = words ? once.take<KeptSecret>(ctx, appPath(clientId)) : undefined;
    page(
      ctx,
      app.name,
      '/developers',
      appBody({ app, secrets, csrf: csrfFor(ctx), issuer: config.ISSUER, newSecret, scopes: deps.scopes }),
      words ? { kind: 'ok', text: newSecret ? words.shown : words.gone } : noticeFrom(ctx, MESSAGES),
    );
  };
  /**
   * A form sent back with every problem beside its field (400; 409 or 429 for the limits, at the top), keeping what
   * the developer typed. Anything else is not the form's problem and goes to the error boundary.
   */
  const formAgain = (
    ctx: Context,
    body: Record<string, unknown>,
    problems: FormProblems,
    status: number,
    clientId?: string,
    kind?: ClientKind,
  ) => {
    const draft: AppDraft = {
      kind: kind ?? NewApp.shape.kind.safeParse(body.kind).data,
      name: formText(body.name),
      description: formText(body.description),
      logo_uri: formText(body.logo_uri),
      homepage: formText(body.homepage),
      redirect_uris: formText(body.redirect_uris),
      scopes: fieldsFromForm(body).scopes as string[],
      token_exchange: body.token_exchange === 'on',
    };
    ctx.status = status;
    page(
      ctx,
      clientId ? 'Edit app' : 'Register an app',
      clientId ? '/developers' : '/developers/apps/new',
      appFormBody(deps.scopes, csrfFor(ctx), draft, clientId, problems),
      undefined,
    );
  };
  /** A refusal from the store or the limits, shown in the form when it is about the form; else thrown on. */
  const refused = (ctx: Context, body: Record<string, unknown>, error: unknown, clientId?: string, kind?: ClientKind) => {
    const problems = problemsFrom(error);
    if (!problems) throw error;
    formAgain(ctx, body, problems, error instanceof AppError ? error.status : 400, clientId, kind);
  };

  /**
   * The JSON API's app fields, parsed, or a 400 that lists every problem at once with its field (the same checks and
   * words as the form), never only the first.
   */
  function checkedApp<S extends typeof NewApp | typeof AppFields>(
    body: Record<string, unknown>,
    schema: S,
    storedKind?: ClientKind,
  ): z.output<S> {
    const problems = checkApp(body, deps.scopes, storedKind);
    if (countProblems(problems)) throw appProblems(problems);
    return withKnownScopes(schema.parse(body) as z.output<S>, deps.scopes);
  }

  const router = createRouter();
  // Runs only when one of the routes below matched: every one of them requires a signed-in owner.
  router.use(loadOwner(deps.provider, deps.accounts));

  // Pages.
  router.get('/developers', async function listAppsPage(ctx) {
    page(ctx, 'Your apps', '/developers', appListBody(await apps.list(ownerOf(ctx).accountId)));
  });
  router.get('/developers/apps/new', async function newAppPage(ctx) {
    page(ctx, 'Register an app', '/developers/apps/new', appFormBody(deps.scopes, csrfFor(ctx), {}));
  });
  router.post('/developers/apps', ...mutate, guard({ body: FormFields }), async function registerFromPage(ctx) {
    const form = ctx.state.input.body;
    const problems = checkAppForm(form, deps.scopes);
    if (countProblems(problems)) return formAgain(ctx, form, problems, 400);
    let created: Awaited<ReturnType<DeveloperApps['register']>>;
    try {
      created = await apps.register(actor(ctx), withKnownScopes(NewApp.parse(fieldsFromForm(form)), deps.scopes));
    } catch (error) {
      return refused(ctx, form, error);
    }
    if (created.clientSecret) return showSecretOnce(ctx, created.app.clientId, 'registered', { secret: created.clientSecret });
    backTo(ctx, appPath(created.app.clientId), 'registered');
  });
  router.get('/developers/apps/:clientId', async function showAppPage(ctx) {
    await appPage(ctx, clientIdOf(ctx));
  });
  router.get('/developers/apps/:clientId/edit', async function editAppPage(ctx) {
    const { app } = await apps.get(ownerOf(ctx).accountId, clientIdOf(ctx));
    page(ctx, `Edit ${app.name}`, '/developers', appFormBody(deps.scopes, csrfFor(ctx), draftOf(app), app.clientId));
  });
  router.post('/developers/apps/:clientId', ...mutate, ownApp, guard({ body: FormFields }), async function updateFromPage(ctx) {
    const clientId = clientIdOf(ctx);
    const form = ctx.state.input.body;
    const { app } = await apps.get(ownerOf(ctx).accountId, clientId);
    const problems = checkAppForm(form, deps.scopes, app.kind);
    if (countProblems(problems)) return formAgain(ctx, form, problems, 400, clientId, app.kind);
    try {
      await apps.update(actor(ctx), clientId, withKnownScopes(AppFields.parse(fieldsFromForm(form)), deps.scopes));
    } catch (error) {
      return refused(ctx, form, error, clientId, app.kind);
    }
    backTo(ctx, `/developers/apps/${clientId}`, 'updated');
  });
  router.post('/developers/apps/:clientId/rotate', ...mutate, ownApp, guard({ body: Rotation }), async function rotateFromPage(ctx) {
    const clientId = clientIdOf(ctx);
    const { grace } = ctx.state.input.body;
    const { clientSecret, oldWorksUntil } = await apps.rotate(actor(ctx), clientId, grace);
    showSecretOnce(
      ctx,
      clientId,
      'rotated',
      grace === '0' ? { secret: clientSecret, oldStopped: true } : { secret: clientSecret, oldWorksUntil: oldWorksUntil.toISOString() },
    );
  });
  router.post('/developers/apps/:clientId/revoke-secrets', ...mutate, async function revokeSecretsFromPage(ctx) {
    const clientId = clientIdOf(ctx);
    const { clientSecret } = await apps.revokeSecrets(actor(ctx), clientId);
    showSecretOnce(ctx, clientId, 'revoked', { secret: clientSecret });
  });
  for (const [action, active] of [
    ['deactivate', false],
    ['reactivate', true],
  ] as const) {
    router.post(`/developers/apps/:clientId/${action}`, ...mutate, async function setActiveFromPage(ctx) {
      const clientId = clientIdOf(ctx);
      await apps.setActive(actor(ctx), clientId, active);
      backTo(ctx, `/developers/apps/${clientId}`, `${action}d`);
    });
  }
  router.post('/developers/apps/:clientId/delete', ...mutate, async function deleteFromPage(ctx) {
    await apps.remove(actor(ctx), clientIdOf(ctx));
    backTo(ctx, '/developers', 'deleted');
  });
  router.get('/developers/apps/:clientId/skill.md', async function skillDocumentRoute(ctx) {
    const { app } = await apps.get(ownerOf(ctx).accountId, clientIdOf(ctx));
    sendSkillDocument(ctx, config, app, deps.apiCalls?.() ?? [], deps.scopes, deps.mcpTools);
  });

  // The JSON API: the same operations.
  router.get('/developers/api/apps', async function listApps(ctx) {
    ctx.body = { apps: (await apps.list(ownerOf(ctx).accountId)).map((a) => appJson(a)) };
  });
  router.post('/developers/api/apps', ...mutate, guard({ body: FormFields }), async function registerApp(ctx) {
    const { app, clientSecret } = await apps.register(actor(ctx), checkedApp(ctx.state.input.body, NewApp));
    noStore(ctx);
    ctx.status = 201;
    ctx.body = { ...appJson(app, await apps.secrets.live(app.clientId)), ...(clientSecret ? { client_secret: clientSecret } : {}) };
  });
  router.get('/developers/api/apps/:clientId', async function showApp(ctx) {
    const { app, secrets } = await apps.get(ownerOf(ctx).accountId, clientIdOf(ctx));
    ctx.body = appJson(app, secrets);
  });
  router.put('/developers/api/apps/:clientId', ...mutate, ownApp, guard({ body: FormFields }), async function updateApp(ctx) {
    const clientId = clientIdOf(ctx);
    const { app } = await apps.get(ownerOf(ctx).accountId, clientId);
    ctx.body = appJson(await apps.update(actor(ctx), clientId, checkedApp(ctx.state.input.body, AppFields, app.kind)));
  });
  router.post('/developers/api/apps/:clientId/deactivate', ...mutate, async function deactivateApp(ctx) {
    ctx.body = appJson(await apps.setActive(actor(ctx), clientIdOf(ctx), false));
  });
  router.post('/developers/api/apps/:clientId/reactivate', ...mutate, async function reactivateApp(ctx) {
    ctx.body = appJson(await apps.setActive(actor(ctx), clientIdOf(ctx), true));
  });
  router.delete('/developers/api/apps/:clientId', ...mutate, async function deleteApp(ctx) {
    await apps.remove(actor(ctx), clientIdOf(ctx));
    ctx.body = { deleted: true };
  });
  router.post('/developers/api/apps/:clientId/secrets', ...mutate, ownApp, guard({ body: Rotation }), async function rotateSecret(ctx) {
    const clientId = clientIdOf(ctx);
    const { clientSecret, oldWorksUntil } = await apps.rotate(actor(ctx), clientId, ctx.state.input.body.grace);
    noStore(ctx);
    ctx.status = 201;
    ctx.body = { client_secret: clientSecret, old_secrets_work_until: oldWorksUntil.toISOString(), secrets: await liveJson(clientId) };
  });
  router.delete('/developers/api/apps/:clientId/secrets', ...mutate, async function revokeSecrets(ctx) {
    const clientId = clientIdOf(ctx);
    const { clientSecret } = await apps.revokeSecrets(actor(ctx), clientId);
    noStore(ctx);
    ctx.body = { client_secret: clientSecret, secrets: await liveJson(clientId) };
  });

  async function liveJson(clientId: string) {
    return (await apps.secrets.live(clientId)).map((s) => ({ id: s.id, created_at: s.createdAt, expires_at: s.expiresAt }));
  }

  return router;
}

import type Router from '@koa/router';
import type { Context } from 'koa';
import { z, ZodError } from 'zod';
import { AppError, notFound } from '../../errors.js';
import { listConnectedApps, type ConnectedApp, type DelegatedToken } from '../../grants/connected-apps.js';
import { findOwnedGrant, type OwnedGrant } from '../../grants/revoke.js';
import { revokeApp } from '../../grants/revoke-app.js';
import { everythingOf, revokeEverything } from '../../grants/revoke-everything.js';
import { revokeAllBody } from '../views/revoke-all.js';
import { Policy, type PolicyInput } from '../../policies/policy.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { backTo, noticeFrom } from '../../web/notices.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { consolePage, type ConsolePageInput } from '../views/layout.js';
import { appsBody, type PolicyEdit } from '../views/apps.js';
import { draftFromForm, inputOf, POLICY_LABELS, policyProblem } from '../../policies/form.js';
import { FormFields, guard, pathParam } from '../../http/guard.js';

/** oidc-provider grant ids are nanoids ([A-Za-z0-9_-]); allow some room, nothing else. */
const GrantId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

const MESSAGES = {
  revoked: 'Access revoked. Every token it held has stopped working.',
  'limits-saved': 'Limits saved. They apply from the next request of that app.',
  'revoked-all': 'Everything revoked. No app, agent service or agent token has access to your account now.',
};

const appJson = (app: ConnectedApp, policy: Policy) => ({
  grant_id: app.grantId,
  kind: app.kind,
  client_id: app.clientId,
  name: app.name,
  logo_uri: app.logoUri ?? null,
  redirect_host: app.redirectHost ?? null,
  scopes: app.scopes,
  granted_at: app.grantedAt.toISOString(),
  last_used_at: app.lastUsedAt?.toISOString() ?? null,
  expires_at: app.expiresAt?.toISOString() ?? null,
  policy,
  delegations: app.delegations.map(delegationJson),
});

/**
 * A token the app handed on by token exchange, nested: each carries the tokens handed on from it in its own
 * `delegations`, and `parent_grant_id` names the grant it came from (the app's, or its parent's). Its limits are
 * the app's. DELETE /console/api/apps/:grant_id revokes it and everything below it.
 */
const delegationJson = (token: DelegatedToken): Record<string, unknown> => ({
  grant_id: token.grantId,
  parent_grant_id: token.parentGrantId,
  depth: token.depth,
  client_id: token.clientId,
  name: token.name,
  scopes: token.scopes,
  audience: token.audience,
  created_at: token.createdAt.toISOString(),
  expires_at: token.expiresAt.toISOString(),
  delegations: token.delegations.map(delegationJson),
});

/**
 * /console/apps and /console/api/apps: every app and agent holding a grant of this owner; revoke any of them, and
 * set the limits each may post under.
 */
export function appsArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);
  const { policies } = deps.resource;
  const revokeDeps = { ...deps, policies };

  /** Another owner's grant is "not found", exactly like an unknown one, and stays untouched (as in threat model F4). */
  async function ownedGrant(ctx: Context): Promise<OwnedGrant> {
    const id = GrantId.safeParse(pathParam(ctx, 'grantId'));
    const grant = id.success ? await findOwnedGrant(deps.provider, ownerOf(ctx).accountId, id.data) : undefined;
    if (!grant) throw notFound('not_found', 'No such connected app.');
    return grant;
  }

  async function revokeAppOf(ctx: Context): Promise<void> {
    const grant = await ownedGrant(ctx);
    await revokeApp(revokeDeps, { accountId: ownerOf(ctx).accountId, ip: ctx.ip, via: 'console' }, grant);
  }

  /** Checks and stores the limits; a problem is a 400 naming the field (and the line, for lists). */
  async function savePolicy(ctx: Context, input: PolicyInput): Promise<Policy> {
    const grant = await ownedGrant(ctx);
    // A helper's token is checked against the limits of the app at the root of its tree: limits of its own would
    // never apply, so the owner is sent to the app's.
    const { rows } = await deps.db.query('SELECT 1 FROM grant_delegations WHERE grant_id = $1', [grant.grantId]);
    if (rows.length) throw new AppError('invalid_policy', 400, 'This helper shares the limits of the app it came from: change them there.');
    // Strict: a misspelt field is refused rather than silently dropped (the owner would think it applies).
    const parsed = Policy.strict().safeParse(input);
    if (!parsed.success) throw new AppError('invalid_policy', 400, policyProblem(parsed.error, input));
    // Only apps registered here: a typo would otherwise sit in the list looking like a permission that works.
    for (const [index, clientId] of parsed.data.delegate_to.entries()) {
      if (!(await deps.clients.find(clientId)))
        throw new AppError(
          'invalid_policy',
          400,
          `${POLICY_LABELS.delegate_to}, line ${index + 1} (“${clientId.slice(0, 60)}”): no such app`,
        );
    }
    const accountId = ownerOf(ctx).accountId;
    const policy = await policies.set(accountId, grant.grantId, parsed.data);
    await deps.events.record({
      kind: 'policy.updated',
      accountId,
      clientId: grant.clientId,
      grantId: grant.grantId,
      ip: ctx.ip,
      detail: { policy },
    });
    return policy;
  }

  async function withPolicies(accountId: string) {
    const apps = await listConnectedApps(deps.db, accountId);
    return Promise.all(apps.map(async (app) => ({ app, policy: await policies.get(app.grantId) })));
  }

  async function page(ctx: Context, edit?: PolicyEdit, notice: ConsolePageInput['notice'] = noticeFrom(ctx, MESSAGES)) {
    const csrf = csrfFor(ctx);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Connected apps',
      active: '/console/apps',
      csrf,
      notice,
      body: appsBody(
        deps.scopes,
        await withPolicies(ownerOf(ctx).accountId),
        csrf,
        edit,
        typeof ctx.query.limits === 'string' ? ctx.query.limits : undefined,
      ),
    });
  }

  router.get('/console/apps', async function showApps(ctx) {
    await page(ctx);
  });

  router.get('/console/api/apps', async function listApps(ctx) {
    ctx.body = { apps: (await withPolicies(ownerOf(ctx).accountId)).map(({ app, policy }) => appJson(app, policy)) };
  });

  router.delete('/console/api/apps/:grantId', ...mutate, async function revokeAppByApi(ctx) {
    await revokeAppOf(ctx);
    ctx.body = { revoked: true };
  });

  router.post('/console/apps/:grantId/revoke', ...mutate, async function revokeAppFromPage(ctx) {
    await revokeAppOf(ctx);
    backTo(ctx, '/console/apps', 'revoked');
  });

  const revokeAll = (ctx: Context) => revokeEverything(revokeDeps, { accountId: ownerOf(ctx).accountId, ip: ctx.ip, via: 'console' });

  router.get('/console/apps/revoke-all', async function confirmRevokeAll(ctx) {
    const csrf = csrfFor(ctx);
    const all = await everythingOf(revokeDeps, ownerOf(ctx).accountId);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Revoke everything',
      active: '/console/apps',
      csrf,
      body: revokeAllBody({
        csrf,
        apps: all.apps.map((a) => a.name),
        agentServices: all.agentServices.map((s) => s.name),
        agentTokens: all.agentTokens.map((t) => t.name),
      }),
    });
  });

  router.post('/console/apps/revoke-all', ...mutate, async function revokeAllFromPage(ctx) {
    await revokeAll(ctx);
    backTo(ctx, '/console/apps', 'revoked-all');
  });

  router.post('/console/api/apps/revoke-all', ...mutate, async function revokeAllByApi(ctx) {
    const counts = await revokeAll(ctx);
    ctx.body = { revoked: { apps: counts.apps, agent_services: counts.agentServices, agent_tokens: counts.agentTokens } };
  });

  router.get('/console/api/apps/:grantId/policy', async function showPolicy(ctx) {
    const { grantId } = await ownedGrant(ctx);
    ctx.body = { grant_id: grantId, policy: await policies.get(grantId) };
  });

  router.put('/console/api/apps/:grantId/policy', ...mutate, async function setPolicy(ctx) {
    const body: unknown = ctx.state.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new AppError('invalid_policy', 400, 'Send the limits as a JSON object.');
    // The CSRF token may travel in the body; it is not part of the policy.
    const { csrf: _csrf, ...input } = body as Record<string, unknown>;
    const policy = await savePolicy(ctx, input);
    ctx.body = { grant_id: ctx.params.grantId, policy };
  });

  router.post('/console/apps/:grantId/policy', ...mutate, guard({ body: FormFields }), async function setPolicyFromPage(ctx) {
    const form = ctx.state.input.body;
    const draft = draftFromForm(form);
    try {
      // The form of an app that only reads has just the apps it may hand access to: its other limits stay as they are.
      const onlyDelegates = form.only === 'delegate_to';
      const input = onlyDelegates
        ? { ...(await policies.get((await ownedGrant(ctx)).grantId)), delegate_to: inputOf(draft).delegate_to }
        : inputOf(draft);
      await savePolicy(ctx, input);
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'invalid_policy') && !(error instanceof ZodError)) throw error;
      ctx.status = 400;
      const problem = error instanceof AppError ? error.description : 'The limits are not valid.';
      await page(ctx, { grantId: ctx.params.grantId!, draft, problem }, { kind: 'error', text: problem });
      return;
    }
    backTo(ctx, '/console/apps', 'limits-saved');
  });
}

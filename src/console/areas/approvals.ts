import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { notFound } from '../../errors.js';
import { pathParam } from '../../http/guard.js';
import type { HeldAction } from '../../policies/held.js';
import { decideHeld, type HeldDecisionDeps } from '../../plugins/decide-held.js';
import { appNames } from '../../grants/app-names.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { backTo, noticeFrom } from '../../web/notices.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { consolePage } from '../views/layout.js';
import { approvalsBody, type HeldView } from '../views/approvals.js';

const HeldId = z.string().regex(/^held_[A-Za-z0-9_-]{1,40}$/);
const RECENT = 20;

const MESSAGES = {
  approved: 'Approved and sent.',
  rejected: 'Rejected. It will not be sent; the app can see that you said no.',
};
const FAILED = 'Approved, but sending failed. The reason is under Recent decisions; the app may try again.';

const heldJson = (view: HeldView) => ({
  id: view.held.id,
  action: view.held.action,
  app: { name: view.app, client_id: view.held.clientId, grant_id: view.held.grantId },
  text: view.held.summary,
  payload: view.held.payload,
  status: view.held.status,
  result: view.held.result ?? null,
  created_at: view.held.createdAt.toISOString(),
  decided_at: view.held.decidedAt?.toISOString() ?? null,
});

/**
 * /console/approvals and /console/api/approvals: actions an app's "hold for my approval" limit keeps back.
 * Approving runs the action once with the owner's connection, even when two approvals race or the owner also
 * presses Approve in Telegram (src/plugins/decide-held.ts).
 */
export function approvalsArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);
  const { held: store, registry } = deps.resource;

  async function views(accountId: string, list: HeldAction[]): Promise<HeldView[]> {
    const names = await appNames(deps.db, accountId, list);
    return list.map((held) => {
      const scope = registry.action(held.action)?.scope;
      const scopeTitle = scope ? deps.scopes.get(scope)?.title : undefined;
      return { held, app: names.get(held.grantId) ?? held.clientId, ...(scopeTitle ? { scopeTitle } : {}) };
    });
  }

  async function lists(accountId: string) {
    const all = await store.list(accountId);
    const [pending, recent] = await Promise.all([
      views(accountId, all.filter((h) => h.status === 'pending').reverse()),
      views(accountId, all.filter((h) => h.status !== 'pending').slice(0, RECENT)),
    ]);
    return { pending, recent };
  }

  async function find(ctx: Context): Promise<HeldAction> {
    const id = HeldId.safeParse(pathParam(ctx, 'id'));
    const held = id.success ? await store.find(ownerOf(ctx).accountId, id.data) : undefined;
    // Another owner's held post is "not found", exactly like an unknown one.
    if (!held) throw notFound('not_found', 'No such post waiting for approval.');
    return held;
  }

  const decisions: HeldDecisionDeps = {
    resource: deps.resource,
    events: deps.events,
    logger: deps.logger,
    grantExists: async (grantId) => Boolean(await deps.provider.Grant.find(grantId)),
    notifier: deps.notifier,
  };
  const approve = async (ctx: Context) => decideHeld(decisions, await find(ctx), 'approved', { via: 'console', ip: ctx.ip });
  const reject = async (ctx: Context) => (await decideHeld(decisions, await find(ctx), 'rejected', { via: 'console', ip: ctx.ip })).held;

  router.get('/console/approvals', async function showApprovals(ctx) {
    const csrf = csrfFor(ctx);
    const failed = ctx.query.done === 'failed';
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Approvals',
      active: '/console/approvals',
      csrf,
      notice: failed ? { kind: 'error', text: FAILED } : noticeFrom(ctx, MESSAGES),
      body: approvalsBody({ ...(await lists(ownerOf(ctx).accountId)), csrf }),
    });
  });

  router.get('/console/api/approvals', async function listApprovals(ctx) {
    const { pending, recent } = await lists(ownerOf(ctx).accountId);
    ctx.body = { pending: pending.map(heldJson), recent: recent.map(heldJson) };
  });

  const one = async (ctx: Context, held: HeldAction) => heldJson((await views(held.accountId, [held]))[0]!);

  router.post('/console/api/approvals/:id/approve', ...mutate, async function approveByApi(ctx) {
    const { held, failure } = await approve(ctx);
    if (failure) throw failure;
    ctx.body = { approval: await one(ctx, held) };
  });

  router.post('/console/api/approvals/:id/reject', ...mutate, async function rejectByApi(ctx) {
    ctx.body = { approval: await one(ctx, await reject(ctx)) };
  });

  router.post('/console/approvals/:id/approve', ...mutate, async function approveFromPage(ctx) {
    const { failure } = await approve(ctx);
    backTo(ctx, '/console/approvals', failure ? 'failed' : 'approved');
  });

  router.post('/console/approvals/:id/reject', ...mutate, async function rejectFromPage(ctx) {
    await reject(ctx);
    backTo(ctx, '/console/approvals', 'rejected');
  });
}

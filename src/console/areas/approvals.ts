import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError, notFound } from '../../errors.js';
import { pathParam } from '../../http/guard.js';
import type { HeldAction } from '../../policies/held.js';
import { runApproved } from '../../plugins/run-approved.js';
import { appNames } from '../app-names.js';
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
 * Approving runs the action once with the owner's connection, even when two approvals race: the store
 * hands the pending row to one decision only.
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

  const audit = (ctx: Context, held: HeldAction, kind: string, outcome: 'ok' | 'failure', detail: Record<string, unknown> = {}) =>
    deps.events.record({
      kind,
      outcome,
      accountId: held.accountId,
      clientId: held.clientId,
      grantId: held.grantId,
      ip: ctx.ip,
      detail: { held_id: held.id, action: held.action, ...detail },
    });

  /** Takes the pending row for this decision; a second decision, concurrent or later, gets 409. */
  async function claim(ctx: Context, decision: 'approved' | 'rejected'): Promise<HeldAction> {
    const held = await find(ctx);
    // An app whose access was revoked meanwhile gets nothing sent on its behalf.
    if (decision === 'approved' && !(await deps.provider.Grant.find(held.grantId))) {
      await store.decide(held.accountId, held.id, 'expired');
      throw new AppError('app_revoked', 409, 'The app that asked for this no longer has access, so it was not sent.');
    }
    const decided = await store.decide(held.accountId, held.id, decision);
    if (!decided) throw new AppError('already_decided', 409, 'This was already approved or rejected.');
    return decided;
  }

  /**
   * Claims the post, runs it, records what became of it. A failure to send is returned, not thrown: the decision
   * stands (the row says "failed" with the error code) and each caller shows it its own way.
   */
  async function approve(ctx: Context): Promise<{ held: HeldAction; failure?: AppError }> {
    const held = await claim(ctx, 'approved');
    try {
      const result = await runApproved(deps.resource, held, deps.logger);
      await store.settle(held.id, 'approved', result);
      await audit(ctx, held, 'action.approved', 'ok');
      return { held: { ...held, result } };
    } catch (caught) {
      // Plugins translate their upstream's errors; anything else is logged by name only, since a foreign error's
      // message may quote an upstream URL holding a credential (threat model G2).
      if (!(caught instanceof AppError))
        deps.logger.error({ action: held.action, error: caught instanceof Error ? caught.name : typeof caught }, 'approved action failed');
      const failure = caught instanceof AppError ? caught : new AppError('server_error', 500, 'Sending failed on our side.');
      await store.settle(held.id, 'failed', { error: failure.code });
      await audit(ctx, held, 'action.approved', 'failure', { error: failure.code });
      return { held: { ...held, status: 'failed', result: { error: failure.code } }, failure };
    }
  }

  async function reject(ctx: Context): Promise<HeldAction> {
    const held = await claim(ctx, 'rejected');
    await audit(ctx, held, 'action.rejected', 'ok');
    return held;
  }

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

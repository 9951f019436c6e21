import type Router from '@koa/router';
import { displayAddress } from '../../http/client-address.js';
import type { Context } from 'koa';
import { z } from 'zod';
import { notFound } from '../../errors.js';
import { pathParam } from '../../http/guard.js';
import type { BrowserSession } from '../browser-sessions.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { backTo, noticeFrom } from '../../web/notices.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { deviceName } from '../../web/device.js';
import { consolePage } from '../views/layout.js';
import { sessionsBody } from '../views/sessions.js';

/** oidc-provider session uids are nanoids (21 characters of [A-Za-z0-9_-]); allow some room, nothing else. */
const SessionUid = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

const MESSAGES = { 'signed-out': 'That browser is signed out.', 'signed-out-others': 'Every other browser is signed out.' };

const sessionJson = (s: BrowserSession, currentUid: string) => ({
  uid: s.uid,
  device: deviceName(s.userAgent),
  ip: displayAddress(s.ip),
  created_at: s.createdAt.toISOString(),
  last_seen_at: s.lastSeenAt.toISOString(),
  current: s.uid === currentUid,
});

/** /console/sessions and /console/api/sessions: every signed-in browser; sign out one, or all but this one. */
export function sessionsArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);
  const sessions = deps.browserSessions;

  /** Another owner's session uid is "not found", exactly like an unknown one. */
  async function signOutOne(ctx: Context): Promise<void> {
    const owner = ownerOf(ctx);
    const uid = SessionUid.safeParse(pathParam(ctx, 'uid'));
    if (!uid.success || !(await sessions.end(owner.accountId, uid.data))) throw notFound('not_found', 'No such session.');
    await deps.events.record({
      kind: 'session.signed_out',
      accountId: owner.accountId,
      ip: ctx.ip,
      detail: { current: uid.data === owner.sessionUid },
    });
  }

  async function signOutOthers(ctx: Context): Promise<number> {
    const owner = ownerOf(ctx);
    const ended = await sessions.endAll(owner.accountId, owner.sessionUid);
    await deps.events.record({ kind: 'session.signed_out_others', accountId: owner.accountId, ip: ctx.ip, detail: { ended } });
    return ended;
  }

  router.get('/console/sessions', async function showSessions(ctx) {
    const owner = ownerOf(ctx);
    const csrf = csrfFor(ctx);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Sessions',
      active: '/console/sessions',
      csrf,
      notice: noticeFrom(ctx, MESSAGES),
      body: sessionsBody(await sessions.list(owner.accountId), owner.sessionUid, csrf),
    });
  });

  router.get('/console/api/sessions', async function listSessions(ctx) {
    const owner = ownerOf(ctx);
    ctx.body = { sessions: (await sessions.list(owner.accountId)).map((s) => sessionJson(s, owner.sessionUid)) };
  });

  router.post('/console/api/sessions/sign-out-others', ...mutate, async function signOutOtherSessions(ctx) {
    ctx.body = { signed_out: await signOutOthers(ctx) };
  });

  router.delete('/console/api/sessions/:uid', ...mutate, async function signOutSession(ctx) {
    await signOutOne(ctx);
    ctx.body = { signed_out: true };
  });

  router.post('/console/sessions/sign-out-others', ...mutate, async function signOutOthersFromPage(ctx) {
    await signOutOthers(ctx);
    backTo(ctx, '/console/sessions', 'signed-out-others');
  });

  router.post('/console/sessions/:uid/sign-out', ...mutate, async function signOutFromPage(ctx) {
    await signOutOne(ctx);
    backTo(ctx, '/console/sessions', 'signed-out');
  });
}

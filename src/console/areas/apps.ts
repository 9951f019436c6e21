import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { notFound } from '../../errors.js';
import { listConnectedApps, type ConnectedApp } from '../../grants/connected-apps.js';
import { findOwnedGrant, revokeGrant } from '../../grants/revoke.js';
import { backTo, consoleStages, noticeFrom, type ConsoleDeps } from '../kit.js';
import { ownerOf } from '../owner.js';
import { consolePage } from '../views/layout.js';
import { appsBody } from '../views/apps.js';

/** oidc-provider grant ids are nanoids ([A-Za-z0-9_-]); allow some room, nothing else. */
const GrantId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

const MESSAGES = { revoked: 'Access revoked. Every token it held has stopped working.' };

const appJson = (app: ConnectedApp) => ({
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
});

/** /console/apps and /console/api/apps: every app and agent holding a grant of this owner; revoke any of them. */
export function appsArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);

  /** Another owner's grant is "not found", exactly like an unknown one, and stays untouched (SECURITY.md F4 spirit). */
  async function revokeApp(ctx: Context): Promise<void> {
    const owner = ownerOf(ctx);
    const id = GrantId.safeParse(ctx.params.grantId);
    const grant = id.success ? await findOwnedGrant(deps.provider, owner.accountId, id.data) : undefined;
    if (!grant) throw notFound('not_found', 'No such connected app.');
    const { grantId } = grant;
    await revokeGrant(deps.provider, deps.db, grantId);
    await deps.events.record({ kind: 'app.revoked', accountId: owner.accountId, clientId: grant.clientId, grantId, ip: ctx.ip });
  }

  router.get('/console/apps', async function showApps(ctx) {
    const csrf = csrfFor(ctx);
    ctx.type = 'html';
    ctx.body = consolePage({
      title: 'Connected apps',
      active: '/console/apps',
      csrf,
      notice: noticeFrom(ctx, MESSAGES),
      body: appsBody(await listConnectedApps(deps.db, ownerOf(ctx).accountId), csrf),
    });
  });

  router.get('/console/api/apps', async function listApps(ctx) {
    ctx.body = { apps: (await listConnectedApps(deps.db, ownerOf(ctx).accountId)).map(appJson) };
  });

  router.delete('/console/api/apps/:grantId', ...mutate, async function revokeAppByApi(ctx) {
    await revokeApp(ctx);
    ctx.body = { revoked: true };
  });

  router.post('/console/apps/:grantId/revoke', ...mutate, async function revokeAppFromPage(ctx) {
    await revokeApp(ctx);
    backTo(ctx, '/console/apps', 'revoked');
  });
}

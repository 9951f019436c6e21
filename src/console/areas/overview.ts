import type Router from '@koa/router';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { nameOf } from '../../accounts/display-name.js';
import { AccessLog } from '../../accounts/access-log.js';
import { listConnectedApps } from '../../grants/connected-apps.js';
import { providerTitles } from '../../connections/ways.js';
import { overviewPage } from '../views/overview.js';

/** Security warnings this recent are shown on the overview; older ones stay in the access log. */
const WARNING_DAYS = 14;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * /console: a dashboard, not a menu (the navigation is on every page). It reads each store's existing list once,
 * all at the same time: the apps, the connected accounts, undelivered Telegram messages, recent security warnings
 * and the last sign-in; the pending approvals were counted for the navigation already.
 */
export function overviewArea(router: Router, deps: ConsoleDeps): void {
  const { csrfFor } = consoleStages(deps);
  const log = new AccessLog(deps.db);
  router.get('/console', async function showOverview(ctx) {
    const owner = ownerOf(ctx);
    const accountId = owner.accountId;
    const [apps, connections, own, undelivered, warnings, lastSignIn] = await Promise.all([
      listConnectedApps(deps.db, accountId),
      deps.resource.connections.list(accountId),
      deps.upstream.own ? deps.upstream.own.list(accountId) : [],
      deps.telegram.outbox.undelivered(accountId),
      log.securityWarnings(accountId, new Date(Date.now() - WARNING_DAYS * DAY_MS)),
      log.lastSignIn(accountId),
    ]);
    ctx.type = 'html';
    ctx.body = overviewPage({
      csrf: csrfFor(ctx),
      pendingApprovals: pendingOf(ctx),
      name: nameOf(owner.account),
      apps,
      connections,
      providerTitle: providerTitles(deps.upstream, own),
      undelivered: undelivered.length,
      warnings,
      lastSignIn,
      deployment: deps.deployment,
    });
  });
}

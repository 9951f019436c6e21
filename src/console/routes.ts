import Router from '@koa/router';
import { isApi, loadOwner, ownerOf } from '../accounts/owner-session.js';
import { consoleLoginRoutes } from './login.js';
import { consoleStages, type ConsoleDeps } from './kit.js';
import { overviewArea } from './areas/overview.js';
import { passkeysArea } from './areas/passkeys.js';
import { sessionsArea } from './areas/sessions.js';
import { accountArea } from './areas/account.js';
import { profileArea } from './areas/profile.js';
import { logArea } from './areas/log.js';
import { appsArea } from './areas/apps.js';
import { tokensArea } from './areas/tokens.js';
import { mcpArea } from './areas/mcp.js';
import { agentsArea } from './areas/agents.js';
import { connectionsArea } from './areas/connections.js';
import { approvalsArea } from './areas/approvals.js';
import { telegramArea } from './areas/telegram.js';
import { createRouter } from '../http/router.js';

export type ConsoleArea = (router: Router, deps: ConsoleDeps) => void;

/** Areas of the console, each a file in ./areas registering its page and its JSON API. */
const areas: ConsoleArea[] = [
  overviewArea,
  passkeysArea,
  sessionsArea,
  accountArea,
  profileArea,
  logArea,
  appsArea,
  tokensArea,
  mcpArea,
  agentsArea,
  connectionsArea,
  approvalsArea,
  telegramArea,
];

/** The owner's console: pages under /console, the same operations as JSON under /console/api. */
export function consoleRoutes(deps: ConsoleDeps): Router {
  const router = createRouter();
  router.use(consoleLoginRoutes(deps.config, deps.provider).routes());

  const owned = createRouter();
  // Runs only when one of the routes below matched (koa-router), so every one of them requires an owner.
  owned.use(loadOwner(deps.provider, deps.accounts));
  // Pages show how many posts wait for the owner beside "Approvals" (views/layout.ts), so none goes unnoticed.
  owned.use(async function countPendingApprovals(ctx, next) {
    if (!isApi(ctx)) ctx.state.pendingApprovals = await deps.resource.held.countPending(ownerOf(ctx).accountId);
    await next();
  });
  const { mutate, csrfFor } = consoleStages(deps);

  owned.get('/console/api/session', async function describeSession(ctx) {
    const owner = ownerOf(ctx);
    ctx.body = { account_id: owner.accountId, csrf_token: csrfFor(ctx), signed_in_at: new Date(owner.loginTs * 1000).toISOString() };
  });

  owned.post('/console/signout', ...mutate, async function signOut(ctx) {
    const session = await deps.provider.Session.get(ctx);
    await session.destroy();
    await deps.events.record({ kind: 'signout', accountId: ownerOf(ctx).accountId, ip: ctx.ip });
    ctx.status = 303;
    ctx.redirect('/?done=signed-out');
  });

  for (const area of areas) area(owned, deps);
  router.use(owned.routes());
  return router;
}

import type Router from '@koa/router';
import { html } from '../../web/html.js';
import { deploymentBadge } from '../../web/deployment-badge.js';
import { consolePage, consoleSections } from '../views/layout.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { ownerOf } from '../../accounts/owner-session.js';

/** /console: who is signed in, and the way to every section. */
export function overviewArea(router: Router, deps: ConsoleDeps): void {
  const { csrfFor } = consoleStages(deps);
  router.get('/console', async function showOverview(ctx) {
    const owner = ownerOf(ctx);
    const label = owner.account.username ?? `account ${owner.accountId.slice(0, 8)}`;
    const pending = Number(ctx.state.pendingApprovals ?? 0);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Your oauth3 console',
      active: '/console',
      csrf: csrfFor(ctx),
      // Held posts wait for the owner, so the first page says so (the navigation shows the count everywhere).
      notice:
        pending > 0 ? { kind: 'ok', text: `${pending} ${pending === 1 ? 'post waits' : 'posts wait'} for your approval.` } : undefined,
      body: html`<h1>Your oauth3 console</h1>
${deps.deployment ? html`<p class="deployment-line">${deploymentBadge(deps.deployment)} The key that protects your connected accounts exists only inside this server's confidential machine.</p>` : ''}
${pending > 0 ? html`<p><a class="button primary compact" href="/console/approvals">Review ${pending === 1 ? 'it' : 'them'} on the Approvals page</a></p>` : ''}
<p>Signed in as <strong>${label}</strong>. Everything done with your account is listed here, and everything can be undone.</p>
<ul class="tiles">
${consoleSections.filter((s) => s.path !== '/console').map((s) => html`<li><a class="tile" href="${s.path}">${s.label}</a></li>`)}
</ul>`,
    });
  });
}

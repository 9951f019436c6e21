import { html, type SafeHtml } from '../../web/html.js';
import { timeTag } from '../../web/time.js';
import { deploymentBadge, type DeploymentInfo } from '../../web/deployment-badge.js';
import { kindLabel } from '../../accounts/event-kinds.js';
import type { LogEntry } from '../../accounts/access-log.js';
import type { ConnectedApp } from '../../grants/connected-apps.js';
import type { Connection } from '../../connections/store.js';
import { consolePage } from './layout.js';

export interface OverviewInput {
  csrf: string;
  pendingApprovals: number;
  /** The owner's display name or username; absent, the page does not name the account. */
  name?: string;
  /** Every app and agent holding a grant, newest first (src/grants/connected-apps.ts). */
  apps: ConnectedApp[];
  connections: Connection[];
  providerTitle: (provider: string) => string;
  /** Telegram messages that did not reach the owner (src/notices/outbox.ts `undelivered`). */
  undelivered: number;
  /** Security warnings of the last days, newest first (src/accounts/access-log.ts `securityWarnings`). */
  warnings: LogEntry[];
  lastSignIn?: LogEntry;
  deployment?: DeploymentInfo;
}

/** How many of the newest apps and connected accounts the overview names; the rest are a click away. */
const SHOWN = 3;

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** The things the owner should act on, most urgent first; empty when all is well. */
function attention({ pendingApprovals, connections, providerTitle, undelivered, warnings }: OverviewInput): SafeHtml[] {
  const items: SafeHtml[] = [];
  for (const w of warnings) {
    items.push(html`<li class="attention-security"><strong>${kindLabel(w.kind, w.outcome)}</strong> (${timeTag(w.at)}).
${w.summary ?? ''} <a href="/console/log?kind=${w.kind}">See it in the access log</a></li>`);
  }
  if (pendingApprovals > 0) {
    items.push(html`<li>${plural(pendingApprovals, 'post waits', 'posts wait')} for your approval.
<a href="/console/approvals">Review ${pendingApprovals === 1 ? 'it' : 'them'}</a></li>`);
  }
  for (const c of connections.filter((c) => c.status === 'needs_relink')) {
    items.push(html`<li>Your ${providerTitle(c.provider)} account <strong>${c.label}</strong> needs linking again: apps cannot use it until
you do. <a href="/console/connections">Link it again</a></li>`);
  }
  if (undelivered > 0) {
    items.push(html`<li>${plural(undelivered, 'Telegram message', 'Telegram messages')} could not be delivered to you.
<a href="/console/telegram">See ${undelivered === 1 ? 'it' : 'them'}</a></li>`);
  }
  return items;
}

function appsCard(apps: ConnectedApp[]): SafeHtml {
  const list = apps
    .slice(0, SHOWN)
    .map((a) => html`<li><strong>${a.name}</strong> <span class="hint">allowed ${timeTag(a.grantedAt)}</span></li>`);
  return html`<section class="overview-card" aria-labelledby="overview-apps">
<h2 id="overview-apps">Apps and agents</h2>
${
  apps.length
    ? html`<p class="overview-count"><strong>${apps.length}</strong> ${apps.length === 1 ? 'has' : 'have'} access to your account</p>
<ul class="overview-list">${list}</ul>
<p><a href="/console/apps">${apps.length > SHOWN ? `See all ${apps.length}` : 'See what each may do'}, or revoke access</a></p>`
    : html`<p>No app or agent has access yet. When one asks, you decide on a consent page what it may do.</p>
<p><a href="/console/tokens">Make a token for your own agent</a></p>`
}
</section>`;
}

function connectionsCard(connections: Connection[], providerTitle: (p: string) => string): SafeHtml {
  const list = connections
    .slice(0, SHOWN)
    .map(
      (c) =>
        html`<li><strong>${providerTitle(c.provider)}</strong> ${c.label}${c.status === 'needs_relink' ? html` <span class="badge badge-relink">Needs re-link</span>` : ''}</li>`,
    );
  return html`<section class="overview-card" aria-labelledby="overview-connections">
<h2 id="overview-connections">Connected accounts</h2>
${
  connections.length
    ? html`<p class="overview-count"><strong>${connections.length}</strong> connected</p>
<ul class="overview-list">${list}</ul>
<p><a href="/console/connections">${connections.length > SHOWN ? `See all ${connections.length}` : 'Manage connected accounts'}</a></p>`
    : html`<p>None yet. Connect an account (X, Telegram, …) so the apps you allow can use it for you.</p>
<p><a href="/console/connections">Connect an account</a></p>`
}
</section>`;
}

function approvalsCard(pending: number): SafeHtml {
  return html`<section class="overview-card" aria-labelledby="overview-approvals">
<h2 id="overview-approvals">Approvals</h2>
${
  pending > 0
    ? html`<p class="overview-count"><strong>${pending}</strong> ${pending === 1 ? 'post waits' : 'posts wait'} for you</p>`
    : html`<p>No post waits for your approval. Apps you limited to "ask me first" wait here.</p>`
}
<p><a href="/console/approvals">Open approvals</a></p>
</section>`;
}

function signInCard(last: LogEntry | undefined): SafeHtml {
  const browser = typeof last?.detail.browser === 'string' ? last.detail.browser : undefined;
  return html`<section class="overview-card" aria-labelledby="overview-signin">
<h2 id="overview-signin">Last sign-in</h2>
${
  last
    ? html`<p><strong>${timeTag(last.at)}</strong>${browser ? html`<br>${browser}` : ''}${last.kind === 'account.created' ? html`<br><span class="hint">when you created the account</span>` : ''}</p>`
    : html`<p>No sign-in recorded yet.</p>`
}
<p><a href="/console/sessions">Signed-in browsers</a> · <a href="/console/log">Access log</a></p>
</section>`;
}

/** /console: what has access, what needs the owner, and where they last signed in; every section is in the menu. */
export function overviewPage(input: OverviewInput): string {
  const { name, deployment } = input;
  const todo = attention(input);
  const body = html`<h1>${name ? `Hello, ${name}` : 'Your oauth3 console'}</h1>
<p>${name ? html`Signed in as <strong>${name}</strong>.` : html`You are signed in. <a href="/console/profile">Add your name</a> so oauth3 can greet you.`}
Here is what can reach your accounts; everything can be undone.</p>
${deployment ? html`<p class="deployment-line">${deploymentBadge(deployment)} The key that protects your connected accounts exists only inside this server's confidential machine.</p>` : ''}
${
  todo.length
    ? html`<section class="attention" aria-labelledby="attention-title">
<h2 id="attention-title">Needs your attention</h2>
<ul class="attention-list">${todo}</ul>
</section>`
    : html`<p class="all-clear">Nothing needs your attention.</p>`
}
<div class="overview-grid">
${appsCard(input.apps)}
${connectionsCard(input.connections, input.providerTitle)}
${approvalsCard(input.pendingApprovals)}
${signInCard(input.lastSignIn)}
</div>`;
  return consolePage({ title: 'Overview', active: '/console', csrf: input.csrf, body, pendingApprovals: input.pendingApprovals });
}

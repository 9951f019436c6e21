import { html, type SafeHtml } from '../../web/html.js';
import { layout } from '../../web/layout.js';

export const consoleSections = [
  { path: '/console', label: 'Overview' },
  { path: '/console/passkeys', label: 'Passkeys' },
  { path: '/console/sessions', label: 'Sessions' },
  { path: '/console/apps', label: 'Connected apps' },
  { path: '/console/connections', label: 'Connected accounts' },
  { path: '/console/approvals', label: 'Approvals' },
  { path: '/console/telegram', label: 'Telegram' },
  { path: '/console/tokens', label: 'Agent tokens' },
  { path: '/console/mcp', label: 'MCP clients' },
  { path: '/console/agents', label: 'Agent services' },
  { path: '/console/log', label: 'Access log' },
  { path: '/console/profile', label: 'Profile' },
  { path: '/console/account', label: 'Account' },
] as const;

export interface ConsolePageInput {
  title: string;
  /** The section path to mark as current in the navigation. */
  active: string;
  body: SafeHtml;
  /** The page's CSRF token: every form on the page carries it, and scripts read it from <body data-csrf>. */
  csrf: string;
  /** A one-line confirmation or problem to show at the top (from `?done=` / `?error=` after a form post). */
  notice?: { kind: 'ok' | 'error'; text: string };
  scripts?: string[];
  /** Posts waiting for the owner's approval, shown beside "Approvals" in the navigation (kit.ts `pendingOf`). */
  pendingApprovals?: number;
}

/** The count beside a section's name: words for screen readers, a number for the eye. */
const countBadge = (count: number) => html` <span class="nav-count">${count}<span class="visually-hidden"> waiting</span></span>`;

/** Every console page: the section navigation, a notice line, and the page body in a wide column. */
export function consolePage({ title, active, body, csrf, notice, scripts = [], pendingApprovals }: ConsolePageInput): string {
  const pending = pendingApprovals ?? 0;
  const nav = html`<nav class="console-nav" aria-label="Console sections"><ul>
${consoleSections.map((s) => html`<li><a href="${s.path}"${s.path === active ? html` aria-current="page"` : ''}>${s.label}${s.path === '/console/approvals' && pending > 0 ? countBadge(pending) : ''}</a></li>`)}
</ul>
<form method="post" action="/console/signout" class="signout"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="link-button">Sign out</button></form>
</nav>`;
  const main = html`<div class="console" data-csrf="${csrf}">
${notice ? html`<p class="notice notice-${notice.kind}" role="${notice.kind === 'error' ? 'alert' : 'status'}">${notice.text}</p>` : ''}
${body}
</div>`;
  return layout({ title, body: main, nav, mainClass: 'site-main console-main', styles: ['/static/console.css'], scripts });
}

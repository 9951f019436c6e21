import { html, type SafeHtml } from '../../web/html.js';
import { layout } from '../../web/layout.js';

export interface ConsoleSection {
  path: string;
  label: string;
}

export interface ConsoleGroup {
  label: string;
  sections: readonly ConsoleSection[];
}

const APPROVALS = '/console/approvals';

/**
 * The console's sections in four groups, so the navigation is one row on a desktop (a menu per group) and one
 * "Menu" button on a phone, instead of thirteen links wrapping into several rows. The overview stands alone.
 */
export const consoleGroups: readonly ConsoleGroup[] = [
  {
    label: 'Access',
    sections: [
      { path: '/console/apps', label: 'Connected apps' },
      { path: '/console/tokens', label: 'Agent tokens' },
      { path: '/console/agents', label: 'Agent services' },
      { path: '/console/mcp', label: 'MCP clients' },
      { path: APPROVALS, label: 'Approvals' },
    ],
  },
  {
    label: 'Accounts',
    sections: [
      { path: '/console/connections', label: 'Connected accounts' },
      { path: '/console/telegram', label: 'Telegram' },
    ],
  },
  {
    label: 'Security',
    sections: [
      { path: '/console/passkeys', label: 'Passkeys' },
      { path: '/console/sessions', label: 'Sessions' },
      { path: '/console/log', label: 'Access log' },
    ],
  },
  {
    label: 'Account',
    sections: [
      { path: '/console/profile', label: 'Profile' },
      { path: '/console/account', label: 'Account' },
    ],
  },
];

export const OVERVIEW: ConsoleSection = { path: '/console', label: 'Overview' };

/** Every page of the console, the overview first. */
export const consoleSections: readonly ConsoleSection[] = [OVERVIEW, ...consoleGroups.flatMap((g) => g.sections)];

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

/** The count beside a name: words for screen readers, a number for the eye. */
const countBadge = (count: number) => html` <span class="nav-count">${count}<span class="visually-hidden"> waiting</span></span>`;

/** One section's link; the current page is marked for screen readers (aria-current) and the eye. */
function sectionLink(s: ConsoleSection, active: string, pending: number): SafeHtml {
  const count = s.path === APPROVALS && pending > 0 ? countBadge(pending) : '';
  return html`<li><a href="${s.path}"${s.path === active ? html` aria-current="page"` : ''}>${s.label}${count}</a></li>`;
}

/**
 * The navigation, twice over (CSS shows one): a desktop bar whose groups are <details> menus, and a phone's single
 * Menu <details> listing every group. Both open and close without JavaScript, and the bar's menus share a `name`, so
 * opening one closes the others in the browser itself; /static/console.js does the same for browsers without named
 * <details>, and closes a menu on Escape or a click elsewhere. The approvals count shows on the closed group and on
 * the Menu button too.
 */
function navigation(active: string, pending: number, csrf: string): SafeHtml {
  const waiting = pending > 0 ? countBadge(pending) : '';
  const groupOf = (g: ConsoleGroup) => g.sections.some((s) => s.path === active);
  const bar = html`<ul class="nav-bar">
${sectionLink(OVERVIEW, active, pending)}
${consoleGroups.map(
  (g) => html`<li><details name="console-nav" class="nav-group${groupOf(g) ? ' nav-group-current' : ''}" data-nav-menu>
<summary>${g.label}${g.sections.some((s) => s.path === APPROVALS) ? waiting : ''}</summary>
<ul class="nav-group-list">
${g.sections.map((s) => sectionLink(s, active, pending))}
</ul>
</details></li>`,
)}
</ul>`;
  const menu = html`<details class="nav-menu" data-nav-menu>
<summary class="nav-menu-button">Menu${waiting}</summary>
<div class="nav-menu-panel">
<ul class="nav-menu-list">${sectionLink(OVERVIEW, active, pending)}</ul>
${consoleGroups.map(
  (g, i) => html`<p class="nav-menu-group" id="nav-menu-group-${i}">${g.label}</p>
<ul class="nav-menu-list" aria-labelledby="nav-menu-group-${i}">
${g.sections.map((s) => sectionLink(s, active, pending))}
</ul>`,
)}
</div>
</details>`;
  return html`<nav class="console-nav" aria-label="Console sections">
${bar}
${menu}
<form method="post" action="/console/signout" class="signout"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="link-button">Sign out</button></form>
</nav>`;
}

/** Every console page: the section navigation, a notice line, and the page body in a wide column. */
export function consolePage({ title, active, body, csrf, notice, scripts = [], pendingApprovals }: ConsolePageInput): string {
  const main = html`<div class="console" data-csrf="${csrf}">
${notice ? html`<p class="notice notice-${notice.kind}" role="${notice.kind === 'error' ? 'alert' : 'status'}">${notice.text}</p>` : ''}
${body}
</div>`;
  // console.js closes the navigation's menus on Escape or a click elsewhere; every console page loads it.
  const withMenus = scripts.includes(CONSOLE_JS) ? scripts : [...scripts, CONSOLE_JS];
  return layout({
    title,
    body: main,
    nav: navigation(active, pendingApprovals ?? 0, csrf),
    mainClass: 'site-main console-main',
    styles: ['/static/console.css'],
    scripts: withMenus,
  });
}

const CONSOLE_JS = '/static/console.js';

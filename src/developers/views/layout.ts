import { html, type SafeHtml } from '../../web/html.js';
import { layout } from '../../web/layout.js';

export const developerSections = [
  { path: '/developers', label: 'Your apps' },
  { path: '/developers/apps/new', label: 'Register an app' },
  { path: '/developers/playground', label: 'Playground' },
  { path: '/console', label: 'Console' },
] as const;

export interface DeveloperPageInput {
  title: string;
  active: string;
  body: SafeHtml;
  csrf: string;
  notice?: { kind: 'ok' | 'error'; text: string };
}

/**
 * Every portal page: the portal's navigation, a notice line and the body, in the console's look (console.css), with
 * the console's local times and Copy buttons (/static/kit.js).
 */
export function developerPage({ title, active, body, csrf, notice }: DeveloperPageInput): string {
  const nav = html`<nav class="console-nav developers-nav" aria-label="Developer portal"><ul class="portal-nav">
${developerSections.map((s) => html`<li><a href="${s.path}"${s.path === active ? html` aria-current="page"` : ''}>${s.label}</a></li>`)}
</ul>
<form method="post" action="/console/signout" class="signout"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="link-button">Sign out</button></form>
</nav>`;
  const main = html`<div class="console developers" data-csrf="${csrf}">
${notice ? html`<p class="notice notice-${notice.kind}" role="${notice.kind === 'error' ? 'alert' : 'status'}">${notice.text}</p>` : ''}
${body}
</div>`;
  return layout({
    title,
    body: main,
    nav,
    mainClass: 'site-main console-main',
    styles: ['/static/console.css'],
    scripts: ['/static/kit.js'],
  });
}

import { html, type SafeHtml } from '../../web/html.js';
import { csrfField } from '../../web/forms.js';

export interface RevokeAllInput {
  csrf: string;
  apps: string[];
  agentServices: string[];
  agentTokens: string[];
}

const SHOWN_NAMES = 8;

/** "2 apps: Newsroom and Digest", "1 agent token: “Research”": a count and the names, at most a few. */
function item(count: number, one: string, many: string, names: string[]): SafeHtml | '' {
  if (!count) return '';
  const shown = names.slice(0, SHOWN_NAMES).map((n) => `“${n}”`);
  const more = names.length > SHOWN_NAMES ? [`${names.length - SHOWN_NAMES} more`] : [];
  const all = [...shown, ...more];
  const listed = all.length > 1 ? `${all.slice(0, -1).join(', ')} and ${all[all.length - 1]}` : all[0];
  return html`<li><strong>${count} ${count === 1 ? one : many}</strong>: ${listed}</li>`;
}

/** The section at the foot of Connected apps that leads to the confirmation. */
export function revokeAllSection(): SafeHtml {
  return html`<section aria-labelledby="revoke-all-title">
<h2 id="revoke-all-title">Revoke everything</h2>
<p>Ends the access of every app, agent service and agent token at once, for example when you think a device or a key
was stolen. The next page says exactly what ends before anything happens.</p>
<p><a class="button danger compact" href="/console/apps/revoke-all">Revoke everything…</a></p>
</section>`;
}

/**
 * /console/apps/revoke-all: the confirmation step. It says what ends, with counts and names, and what stays; the
 * button posts the form, and nothing is revoked before that.
 */
export function revokeAllBody({ csrf, apps, agentServices, agentTokens }: RevokeAllInput): SafeHtml {
  const total = apps.length + agentServices.length + agentTokens.length;
  if (!total) {
    return html`<h1>Revoke everything</h1>
<p class="empty">Nothing to revoke: no app, agent service or agent token has access to your account.</p>
<p><a href="/console/apps">Back to Connected apps</a></p>`;
  }
  return html`<h1>Revoke everything?</h1>
<section aria-labelledby="ends-title">
<h2 id="ends-title">This ends at once</h2>
<ul class="revoke-all-list">
  ${item(apps.length, 'app', 'apps', apps)}
  ${item(agentServices.length, 'agent service', 'agent services', agentServices)}
  ${item(agentTokens.length, 'agent token', 'agent tokens', agentTokens)}
</ul>
<p>Every token they hold stops working on its very next use, and so does every token they handed on to helpers. An
app must ask you again; an agent needs a new token or a new registration.</p>
<p>Your connected accounts, passkeys, signed-in browsers and access log stay as they are.</p>
<form method="post" action="/console/apps/revoke-all" class="inline-form">
  ${csrfField(csrf)}
  <button type="submit" class="button danger">Revoke all ${total}</button>
  <a href="/console/apps">Cancel</a>
</form>
</section>`;
}

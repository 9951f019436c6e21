import { html, httpsUrl } from '../../../interactions/views/html.js';
import { getScope, type ScopeAccess } from '../../../scopes/catalog.js';
import type { ConnectedApp } from '../../grants/connected-apps.js';
import { csrfField, when } from './layout.js';

/** Badge text carries the meaning; the colour only repeats it (as on the consent page). */
const ACCESS: Record<ScopeAccess, string> = { read: 'Read', write: 'Write', identity: 'Identity' };
export const accessBadge = (access: ScopeAccess) => html`<span class="badge badge-${access}">${ACCESS[access]}</span>`;

/** A scope in the owner's words, with its access badge; the technical name stays visible for the curious. */
export const scopeBadge = (name: string) => {
  const def = getScope(name);
  return html`<li>${accessBadge(def?.access ?? 'write')} ${def?.title ?? name} <code class="scope-name">${name}</code></li>`;
};

/** /console/apps: every app and agent holding a grant, and a revoke button for each. */
export function appsBody(apps: ConnectedApp[], csrf: string) {
  const rows = apps.map((app) => {
    const logo = httpsUrl(app.logoUri);
    return html`<tr>
  <td data-label="App"><div class="app-name">
    ${logo ? html`<img class="app-logo" src="${logo}" alt="" width="32" height="32">` : ''}
    <strong>${app.name}</strong>${app.kind === 'agent' ? html` <span class="badge badge-identity">Agent token</span>` : ''}
  </div>${app.redirectHost ? html`<div class="hint">Sends you back to <span class="host">${app.redirectHost}</span></div>` : ''}</td>
  <td data-label="Can"><ul class="scope-list">${app.scopes.map(scopeBadge)}</ul></td>
  <td data-label="Granted">${when(app.grantedAt)}</td>
  <td data-label="Last used">${when(app.lastUsedAt)}</td>
  <td data-label="Actions"><form method="post" action="/console/apps/${app.grantId}/revoke" class="inline-form">
    ${csrfField(csrf)}
    <button type="submit" class="button danger compact">Revoke<span class="visually-hidden"> ${app.name}</span></button>
  </form></td>
</tr>`;
  });

  return html`<h1>Connected apps</h1>
<p>Apps you allowed to use your oauth3 account, and tokens you made for your own agents. Revoking one stops every
token it holds at once; an app that wants access again has to ask you again.</p>
<section aria-labelledby="apps-title">
<h2 id="apps-title">With access now</h2>
${apps.length
    ? html`<table class="table">
<thead><tr><th scope="col">App</th><th scope="col">Can</th><th scope="col">Granted</th><th scope="col">Last used</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : html`<p class="empty">No app has access to your account.</p>`}
</section>`;
}

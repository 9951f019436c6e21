import { html, httpsUrl, type SafeHtml } from '../../web/html.js';
import { revokeAllSection } from './revoke-all.js';
import { timeTag } from '../../web/time.js';
import type { ScopeCatalog } from '../../../scopes/catalog.js';
import { scopeBadge } from '../../web/scope-badges.js';
import type { ConnectedApp, DelegatedToken } from '../../grants/connected-apps.js';
import { DEFAULT_POLICY, type Policy } from '../../policies/policy.js';
import { csrfField } from '../../web/forms.js';
import { draftOf, policyFields, policySummary, type PolicyDraft } from '../../policies/form.js';

/** Limits matter for apps that can write; a scope the catalog no longer knows counts as a write, to be safe. */
export const canWrite = (catalog: ScopeCatalog, scopes: string[]) =>
  scopes.some((name) => (catalog.get(name)?.access ?? 'write') === 'write');

/** A limits form sent back with a problem: what the owner typed, for the app it was about. */
export interface PolicyEdit {
  grantId: string;
  draft: PolicyDraft;
  problem: string;
}

export interface AppWithPolicy {
  app: ConnectedApp;
  policy: Policy;
}

/** /console/apps: every app and agent holding a grant, a revoke button for each, and the limits of each writer. */
export function appsBody(catalog: ScopeCatalog, apps: AppWithPolicy[], csrf: string, edit?: PolicyEdit, openGrantId?: string) {
  const rows = apps.map(({ app, policy }) => {
    const logo = httpsUrl(app.logoUri);
    return html`<tr>
  <td data-label="App"><div class="app-name">
    ${logo ? html`<img class="app-logo" src="${logo}" alt="" width="32" height="32">` : ''}
    <strong>${app.name}</strong>${app.kind === 'agent' ? html` <span class="badge badge-identity">Agent token</span>` : ''}
  </div>${app.redirectHost ? html`<div class="hint">Sends you back to <span class="host">${app.redirectHost}</span></div>` : ''}</td>
  <td data-label="Can"><ul class="scope-list">${app.scopes.map((name) => scopeBadge(catalog, name))}</ul></td>
  <td data-label="Limits">${
    canWrite(catalog, app.scopes)
      ? html`${policySummary(policy)} <a href="/console/apps?limits=${app.grantId}#limits-${app.grantId}">Change<span class="visually-hidden"> limits of ${app.name}</span></a>`
      : html`<span class="hint">Reads only${policy.delegate_to.length ? ` · ${policySummary({ ...DEFAULT_POLICY, delegate_to: policy.delegate_to })}` : ''}</span> <a href="/console/apps?limits=${app.grantId}#limits-${app.grantId}">Change<span class="visually-hidden"> which apps ${app.name} may hand access to</span></a>`
  }</td>
  <td data-label="Granted">${timeTag(app.grantedAt)}</td>
  <td data-label="Last used">${timeTag(app.lastUsedAt, { empty: 'Never' })}</td>
  <td data-label="Actions"><form method="post" action="/console/apps/${app.grantId}/revoke" class="inline-form">
    ${csrfField(csrf)}
    <button type="submit" class="button danger compact">Revoke<span class="visually-hidden"> ${app.name}</span></button>
  </form></td>
</tr>${app.delegations.length ? delegationRow(catalog, app, csrf) : ''}`;
  });

  return html`<h1>Connected apps</h1>
<p>Apps you allowed to use your oauth3 account, and tokens you made for your own agents. Revoking one stops every
token it holds at once; an app that wants access again has to ask you again.</p>
<section aria-labelledby="apps-title">
<h2 id="apps-title">With access now</h2>
${
  apps.length
    ? html`<table class="table">
<thead><tr><th scope="col">App</th><th scope="col">Can</th><th scope="col">Limits</th><th scope="col">Granted</th><th scope="col">Last used</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : html`<p class="empty">No app has access to your account.</p>`
}
</section>
${
  apps.length
    ? html`<section aria-labelledby="limits-title">
<h2 id="limits-title">Limits</h2>
<p>What each app that can post may do beyond its permissions. A post outside the limits is refused, and the app
is told why; with “Hold for my approval”, posts wait on your <a href="/console/approvals">Approvals</a> page. Any app
may also be allowed to hand part of its access to other apps you name.</p>
${apps.map(({ app, policy }) =>
  limitsForm(
    app,
    policy,
    csrf,
    edit?.grantId === app.grantId ? edit : undefined,
    openGrantId === app.grantId,
    canWrite(catalog, app.scopes),
  ),
)}
</section>`
    : ''
}
${apps.length ? revokeAllSection() : ''}`;
}

/**
 * The narrower tokens an app handed to its own helpers (token exchange), as a tree under its row: each with who
 * holds it, what it may do, until when and its own Revoke, which leaves the app and the rest of the tree working.
 */
function delegationRow(catalog: ScopeCatalog, app: ConnectedApp, csrf: string) {
  return html`<tr class="delegations-row">
  <td colspan="6" data-label="Handed on" class="delegations-cell">
    <p class="hint">${app.name} handed narrower access to its own helpers. Each has at most what ${app.name} has; revoking
    ${app.name} revokes them all, revoking one revokes it and what it handed on.</p>
    ${delegationTree(catalog, app.delegations, csrf)}
  </td>
</tr>`;
}

function delegationTree(catalog: ScopeCatalog, tokens: DelegatedToken[], csrf: string): SafeHtml {
  return html`<ul class="delegation-tree">
${tokens.map(
  (token) => html`<li class="delegation" data-grant="${token.grantId}">
  <div class="delegation-head">
    <strong>${token.name}</strong> <span class="badge badge-resource">Helper, level ${String(token.depth)}</span>
  </div>
  <ul class="scope-list">${token.scopes.map((name) => scopeBadge(catalog, name))}</ul>
  <p class="hint">Until ${timeTag(token.expiresAt, { style: 'absolute' })}</p>
  <form method="post" action="/console/apps/${token.grantId}/revoke" class="inline-form">
    ${csrfField(csrf)}
    <button type="submit" class="button danger compact">Revoke<span class="visually-hidden"> ${token.name}</span></button>
  </form>
  ${token.delegations.length ? delegationTree(catalog, token.delegations, csrf) : ''}
</li>`,
)}
</ul>`;
}

/** Collapsed unless the owner asked for this one (`?limits=<grant>`, which works without scripts) or it has a problem. */
function limitsForm(app: ConnectedApp, policy: Policy, csrf: string, edit: PolicyEdit | undefined, open: boolean, writes: boolean) {
  const prefix = `limits-${app.grantId}-`;
  // An app that only reads is offered only the apps it may hand access to; `only` tells the server to keep the rest.
  return html`<details class="policy" id="limits-${app.grantId}"${edit || open ? html` open` : ''}>
<summary><strong>${app.name}</strong> <span class="hint">${policySummary(policy)}</span></summary>
<form method="post" action="/console/apps/${app.grantId}/policy" class="policy-form">
  ${csrfField(csrf)}
  ${edit ? html`<p class="field-error" role="alert">${edit.problem}</p>` : ''}
  ${writes ? '' : html`<input type="hidden" name="only" value="delegate_to">`}
  ${policyFields({ draft: edit?.draft ?? draftOf(policy), idPrefix: prefix, ...(writes ? {} : { only: ['delegate_to' as const] }) })}
  <button type="submit" class="button primary compact">Save limits<span class="visually-hidden"> of ${app.name}</span></button>
</form>
</details>`;
}

import { html, httpsUrl, type SafeHtml } from '../../web/html.js';
import type { ScopeCatalog } from '../../../scopes/catalog.js';
import type { ClientKind, ClientRecord } from '../../clients/store.js';
import type { LiveSecret } from '../../clients/secrets.js';
import { accessBadge, scopeBadge } from '../../web/scope-badges.js';
import { csrfField } from '../../web/forms.js';
import { copyButton } from '../../web/copy.js';
import { timeTag } from '../../web/time.js';
import { TOKEN_EXCHANGE } from '../apps.js';
import { APP_FIELDS, countProblems, FIELD_LABELS, sentence, type AppFieldName, type FormProblems } from '../form-problems.js';

export const KIND_LABELS: Record<ClientKind, { title: string; hint: string }> = {
  web: {
    title: 'Web app (confidential)',
    hint: 'Runs on a server that keeps a secret. Signs owners in with the authorization code flow and PKCE; gets refresh tokens.',
  },
  public: {
    title: 'Public app (single-page or native)',
    hint: 'Runs in a browser or on a device and cannot keep a secret. Authorization code flow with PKCE, no secret.',
  },
  agent: {
    title: 'Agent service',
    hint: 'A headless agent. The owner approves it with the device flow; it can also use client credentials. Has a secret, no redirect URIs.',
  },
};

const statusBadge = (app: ClientRecord) =>
  app.disabledAt ? html`<span class="badge badge-identity">Deactivated</span>` : html`<span class="badge badge-read">Active</span>`;

/** /developers: the developer's apps. */
export function appListBody(apps: ClientRecord[]): SafeHtml {
  return html`<h1>Your apps</h1>
<p>Apps and agents you registered. Each gets a client id; confidential ones also get a secret, shown once.</p>
<p><a class="button primary compact" href="/developers/apps/new">Register an app</a></p>
${
  apps.length
    ? html`<table class="table app-table">
<thead><tr><th scope="col">App</th><th scope="col">Kind</th><th scope="col">Client id</th><th scope="col">Registered</th></tr></thead>
<tbody>
${apps.map(
  (a) => html`<tr>
  <td data-label="App"><a href="/developers/apps/${a.clientId}"><strong>${a.name}</strong></a> ${statusBadge(a)}</td>
  <td data-label="Kind">${KIND_LABELS[a.kind].title}</td>
  <td data-label="Client id"><code>${a.clientId}</code></td>
  <td data-label="Registered">${timeTag(a.createdAt)}</td>
</tr>`,
)}
</tbody>
</table>`
    : html`<p class="empty">You have not registered any app yet.</p>`
}`;
}

/** What the form shows: the stored app, or what the developer typed when it comes back with a problem. */
export interface AppDraft {
  kind?: ClientKind;
  name?: string;
  description?: string;
  logo_uri?: string;
  homepage?: string;
  redirect_uris?: string;
  scopes?: string[];
  /** May exchange its tokens for narrower ones (RFC 8693); confidential kinds only. */
  token_exchange?: boolean;
}

/** Whether the app registered for token exchange. */
export const exchanges = (app: Pick<ClientRecord, 'grantTypes'>) => app.grantTypes.includes(TOKEN_EXCHANGE);

export const draftOf = (app: ClientRecord): AppDraft => ({
  kind: app.kind,
  name: app.name,
  description: app.description,
  logo_uri: app.logoUri,
  homepage: app.homepage,
  redirect_uris: app.redirectUris.join('\n'),
  scopes: app.scope?.split(' ') ?? [],
  token_exchange: exchanges(app),
});

/** The problem list of one field, and the attributes that tie it to its input (WCAG 3.3.1, 1.3.1). */
function fieldProblems(problems: FormProblems | undefined, field: AppFieldName) {
  const list = problems?.fields[field] ?? [];
  const id = `app-${field}-error`;
  return {
    has: list.length > 0,
    id,
    block: list.length
      ? html`<p class="field-error" id="${id}">${list.length === 1 ? sentence(list[0]!) : html`${list.map((m) => html`<span class="field-error-line">${sentence(m)}</span>`)}`}</p>`
      : html``,
    /** aria-describedby ids: the hint, then the problem. */
    describedBy: (hintId?: string) => [hintId, list.length ? id : undefined].filter(Boolean).join(' '),
  };
}

/** Where each field's input is, for the summary's links. */
const FIELD_ANCHOR: Record<AppFieldName, string> = {
  kind: 'kind-web',
  name: 'app-name',
  description: 'app-description',
  homepage: 'app-homepage',
  logo_uri: 'app-logo_uri',
  redirect_uris: 'app-redirect_uris',
  scopes: 'app-scopes',
  token_exchange: 'app-token_exchange',
};

/** Every problem at the top, each a link to its field, for someone who reads the page from the start. */
function problemSummary(problems: FormProblems): SafeHtml {
  const n = countProblems(problems);
  return html`<div class="notice notice-error problem-summary" role="alert" aria-labelledby="problem-summary-title">
  <p id="problem-summary-title"><strong>The app was not saved: ${n === 1 ? 'one problem' : `${n} problems`} to fix.</strong></p>
  <ul>
  ${problems.other.map((m) => html`<li>${m}</li>`)}
  ${APP_FIELDS.flatMap((field) =>
    (problems.fields[field] ?? []).map((m) => html`<li><a href="#${FIELD_ANCHOR[field]}">${FIELD_LABELS[field]}: ${m}</a></li>`),
  )}
  </ul>
</div>`;
}

/**
 * The register form (no client id yet) or the edit form of one app. With `problems` (a refused submission), every
 * problem shows beside its field and is read with it (aria-describedby), and the fields keep what was typed.
 */
export function appFormBody(catalog: ScopeCatalog, csrf: string, draft: AppDraft, clientId?: string, problems?: FormProblems): SafeHtml {
  const checked = new Set(draft.scopes ?? ['openid', 'offline_access']);
  const text = (id: AppFieldName, label: string, value: string | undefined, hint: string, attrs: SafeHtml = html``) => {
    const p = fieldProblems(problems, id);
    return html`<div class="field${p.has ? ' field-invalid' : ''}">
    <label for="app-${id}">${label}</label>
    <input id="app-${id}" name="${id}" type="${id === 'name' ? 'text' : 'url'}" value="${value ?? ''}" autocomplete="off" aria-describedby="${p.describedBy(`app-${id}-hint`)}"${p.has ? html` aria-invalid="true"` : ''}${attrs}>
    <span class="hint" id="app-${id}-hint">${hint}</span>
    ${p.block}
  </div>`;
  };
  const kindP = fieldProblems(problems, 'kind');
  const descriptionP = fieldProblems(problems, 'description');
  const redirectP = fieldProblems(problems, 'redirect_uris');
  const scopesP = fieldProblems(problems, 'scopes');
  const exchangeP = fieldProblems(problems, 'token_exchange');
  return html`<h1>${clientId ? html`Edit ${draft.name}` : 'Register an app'}</h1>
${problems && countProblems(problems) ? problemSummary(problems) : ''}
<form method="post" action="${clientId ? `/developers/apps/${clientId}` : '/developers/apps'}" class="app-form" novalidate>
  ${csrfField(csrf)}
  ${
    clientId
      ? html`<p>Kind: <strong>${KIND_LABELS[draft.kind ?? 'web'].title}</strong> (it cannot change; register a new app for another kind).</p>`
      : html`<fieldset class="app-kinds"${kindP.has ? html` aria-describedby="${kindP.id}"` : ''}><legend>Kind</legend>
    ${kindP.block}
    ${(Object.keys(KIND_LABELS) as ClientKind[]).map(
      (k) => html`<div class="field field-check">
      <input id="kind-${k}" type="radio" name="kind" value="${k}"${(draft.kind ?? 'web') === k ? html` checked` : ''}>
      <label for="kind-${k}"><strong>${KIND_LABELS[k].title}</strong><span class="hint"> ${KIND_LABELS[k].hint}</span></label>
    </div>`,
    )}
  </fieldset>`
  }
  ${text('name', 'Name', draft.name, 'Owners see it on the consent screen.', html` required maxlength="100"`)}
  <div class="field${descriptionP.has ? ' field-invalid' : ''}">
    <label for="app-description">Description</label>
    <textarea id="app-description" name="description" maxlength="1000" aria-describedby="${descriptionP.describedBy('app-description-hint')}"${descriptionP.has ? html` aria-invalid="true"` : ''}>${draft.description ?? ''}</textarea>
    <span class="hint" id="app-description-hint">What the app does, in a sentence or two.</span>
    ${descriptionP.block}
  </div>
  ${text('homepage', 'Home page', draft.homepage, 'An https URL (optional).')}
  ${text('logo_uri', 'Logo URL', draft.logo_uri, 'An https URL of a square image (optional).')}
  <div class="field${redirectP.has ? ' field-invalid' : ''}">
    <label for="app-redirect_uris">Redirect URIs</label>
    <textarea id="app-redirect_uris" name="redirect_uris" spellcheck="false" aria-describedby="${redirectP.describedBy('app-redirect_uris-hint')}"${redirectP.has ? html` aria-invalid="true"` : ''}>${draft.redirect_uris ?? ''}</textarea>
    <span class="hint" id="app-redirect_uris-hint">One per line, exact: https, or http only on localhost / 127.0.0.1 (native apps may use a
      reverse-domain scheme such as com.example.app:/callback). No fragments or wildcards. Agent services leave this empty.</span>
    ${redirectP.block}
  </div>
  <fieldset class="token-scopes" id="app-scopes" tabindex="-1"${scopesP.has ? html` aria-describedby="${scopesP.id}"` : ''}>
    <legend>Scopes it may ask for</legend>
    ${scopesP.block}
    ${catalog.all().map(
      (s) => html`<div class="field field-check">
      <input id="scope-${s.name}" type="checkbox" name="scope:${s.name}" value="on"${checked.has(s.name) ? html` checked` : ''}>
      <label for="scope-${s.name}">${accessBadge(s.access)} <strong>${s.title}</strong> <code class="scope-name">${s.name}</code><span class="hint"> ${s.description}</span></label>
    </div>`,
    )}
  </fieldset>
  ${
    // A public app cannot authenticate to the token endpoint, so it is not offered (and refused if sent).
    clientId && draft.kind === 'public'
      ? ''
      : html`<div class="field field-check${exchangeP.has ? ' field-invalid' : ''}">
    <input id="app-token_exchange" type="checkbox" name="token_exchange" value="on" aria-describedby="${exchangeP.describedBy('app-token_exchange-hint')}"${exchangeP.has ? html` aria-invalid="true"` : ''}${draft.token_exchange ? html` checked` : ''}>
    <label for="app-token_exchange"><strong>May exchange its tokens for narrower ones for its own helpers (token exchange)</strong>
    <span class="hint" id="app-token_exchange-hint">Web apps and agent services only. The app trades an owner's token for one with
    fewer permissions and a shorter life, to hand to a helper; owners see this on the consent screen and can revoke it.</span></label>
    ${exchangeP.block}
  </div>`
  }
  <button type="submit" class="button primary compact">${clientId ? 'Save changes' : 'Register'}</button>
</form>`;
}

export interface AppPageInput {
  app: ClientRecord;
  secrets: LiveSecret[];
  csrf: string;
  issuer: string;
  /**
   * A secret just issued (registration, rotation, emergency revoke): on this one view and nowhere else (F2), with
   * until when the secret it replaced still works (ISO text) after a rotation with a grace period.
   */
  newSecret?: { secret: string; oldWorksUntil?: string; oldStopped?: boolean };
  /** The scopes this server knows, to name the app's. */
  scopes: ScopeCatalog;
}

/** /developers/apps/:clientId: details, live secrets, rotation and the dangerous buttons. */
export function appBody({ app, secrets, csrf, issuer, newSecret, scopes }: AppPageInput): SafeHtml {
  const base = `/developers/apps/${app.clientId}`;
  const logo = httpsUrl(app.logoUri);
  return html`<h1>${logo ? html`<img class="app-logo" src="${logo}" alt="" width="40" height="40"> ` : ''}${app.name} ${statusBadge(app)}</h1>
${app.description ? html`<p>${app.description}</p>` : ''}
${
  newSecret
    ? html`<section class="new-token" aria-labelledby="new-secret-title">
<h2 id="new-secret-title">Your new client secret</h2>
<div class="field">
  <label for="new-secret-value">Client secret</label>
  <input id="new-secret-value" class="token-value" type="text" readonly value="${newSecret.secret}" autocomplete="off" spellcheck="false">
  ${copyButton('new-secret-value', 'client secret')}
  <span class="hint">Copy it now into your app's configuration. It is shown only this once; oauth3 keeps only a hash of it.${
    newSecret.oldWorksUntil
      ? html` The old secret keeps working until ${timeTag(newSecret.oldWorksUntil, { style: 'absolute' })}.`
      : newSecret.oldStopped
        ? ' The old secret stopped working.'
        : ''
  }</span>
</div>
</section>`
    : ''
}
<section aria-labelledby="details-title">
<h2 id="details-title">Details</h2>
<dl class="app-details">
  <dt>Client id</dt><dd><code id="client-id">${app.clientId}</code></dd>
  <dt>Kind</dt><dd>${KIND_LABELS[app.kind].title}</dd>
  <dt>Discovery URL</dt><dd><code>${issuer}/.well-known/oauth-authorization-server</code></dd>
  ${app.homepage ? html`<dt>Home page</dt><dd>${app.homepage}</dd>` : ''}
  <dt>Redirect URIs</dt><dd>${app.redirectUris.length ? html`<ul>${app.redirectUris.map((u) => html`<li><code>${u}</code></li>`)}</ul>` : '—'}</dd>
  ${app.public ? '' : html`<dt>Token exchange</dt><dd>${exchanges(app) ? 'Yes: may exchange its tokens for narrower ones for its own helpers' : 'No'}</dd>`}
  <dt>Scopes</dt><dd><ul class="scope-list">${(app.scope?.split(' ') ?? []).map((name) => scopeBadge(scopes, name))}</ul></dd>
  <dt>Registered</dt><dd>${timeTag(app.createdAt)}</dd>
</dl>
<p><a href="${base}/skill.md">Skill document</a> — a Markdown file that tells an agent how to use this app's access.
· <a href="${base}/edit">Edit</a></p>
</section>
${app.public ? '' : secretsSection(base, secrets, csrf)}
<section aria-labelledby="danger-title">
<h2 id="danger-title">Deactivate or delete</h2>
<p>Deactivating stops the app at once: it cannot start sign-ins or authenticate, and every grant and token it holds is
revoked. You can reactivate it later; owners then approve it again. Deleting also removes the registration and its secrets.</p>
<div class="row-actions">
  <form method="post" action="${base}/${app.disabledAt ? 'reactivate' : 'deactivate'}" class="inline-form">${csrfField(csrf)}
    <button type="submit" class="button secondary compact">${app.disabledAt ? 'Reactivate' : 'Deactivate'}</button></form>
  <form method="post" action="${base}/delete" class="inline-form">${csrfField(csrf)}
    <button type="submit" class="button danger compact">Delete app</button></form>
</div>
</section>`;
}

function secretsSection(base: string, secrets: LiveSecret[], csrf: string): SafeHtml {
  return html`<section aria-labelledby="secrets-title">
<h2 id="secrets-title">Client secrets</h2>
${
  secrets.length
    ? html`<table class="table secrets-table">
<thead><tr><th scope="col">Secret</th><th scope="col">Created</th><th scope="col">Works until</th></tr></thead>
<tbody>
${secrets.map(
  (s, i) => html`<tr>
  <td data-label="Secret">${i === 0 ? 'Newest' : 'Older'} <code class="secret-id">${s.id}</code></td>
  <td data-label="Created">${timeTag(s.createdAt)}</td>
  <td data-label="Works until" class="secret-until">${s.expiresAt ? timeTag(s.expiresAt, { style: 'absolute' }) : 'until rotated'}</td>
</tr>`,
)}
</tbody>
</table>`
    : html`<p class="empty">No live secret: rotate to get one.</p>`
}
<form method="post" action="${base}/rotate" class="rotate-form">
  ${csrfField(csrf)}
  <div class="field">
    <label for="rotate-grace">Keep the old secret working for</label>
    <select id="rotate-grace" name="grace">
      <option value="0">No time: stop it now</option>
      <option value="1h">1 hour</option>
      <option value="24h" selected>24 hours</option>
      <option value="3d">3 days</option>
      <option value="7d">7 days</option>
    </select>
    <span class="hint">Both secrets work until then, so you can deploy the new one without downtime.</span>
  </div>
  <button type="submit" class="button primary compact">Rotate secret</button>
</form>
<form method="post" action="${base}/revoke-secrets" class="inline-form">
  ${csrfField(csrf)}
  <p>Leaked? <button type="submit" class="button danger compact">Revoke every secret now</button>
  <span class="hint">All secrets stop working at once, with no grace; a fresh one is shown once.</span></p>
</form>
</section>`;
}

import { html, type SafeHtml } from '../../web/html.js';
import type { Connection } from '../../connections/store.js';
import type { CredentialField, CredentialGuide } from '../../plugins/plugin.js';
import { csrfField } from '../../web/forms.js';
import { timeTag } from '../../web/time.js';
import type { OwnerProviderView } from '../../upstream/owner-providers.js';
import type { ConnectWay } from '../../connections/ways.js';

export type { ConnectWay };

/** A paste form sent back with a problem: which kind, what to say, and what was typed (never a secret field). */
export interface ConnectProblem {
  kindId: string;
  message: string;
  values: Record<string, string>;
}

/** The own-app form sent back with a problem: which app (none for a new one), what to say, what was typed (no secret). */
export interface OwnAppProblem {
  id?: string;
  message: string;
  values: Record<string, string>;
}

export interface ConnectionsPageInput {
  connections: Connection[];
  ways: ConnectWay[];
  csrf: string;
  problem?: ConnectProblem;
  /** How a stored connection was made, in the owner's words (`Bot token`, `Signed in with X`). */
  howOf: (connection: Connection) => string;
  /** The upstream's name for the owner (`X`, `Telegram`, `GitHub`). */
  providerTitle: (provider: string) => string;
  /** The owner's own OAuth apps and the redirect URI to register at the provider; absent, the form is not offered. */
  ownApps?: { apps: OwnerProviderView[]; redirectUri: string; problem?: OwnAppProblem };
}

const slug = (value: string) => value.replace(/[^A-Za-z0-9_-]/g, '-');

function statusCell(c: Connection, providerTitle: string): SafeHtml {
  if (c.status === 'active') return html`<span class="badge badge-read">Active</span>`;
  return html`<span class="badge badge-relink">Needs re-link</span>
    <p class="hint">${providerTitle} no longer accepts this connection${c.lastError ? html` (${c.lastError})` : ''}. Apps
    cannot use it until you connect it again below.</p>`;
}

/** /console/connections: the owner's upstream accounts (never a secret) and the forms to connect more. */
export function connectionsBody({ connections, ways, csrf, problem, howOf, providerTitle, ownApps }: ConnectionsPageInput): SafeHtml {
  const rows = connections.map(
    (c) => html`<tr>
  <td data-label="Account"><strong>${c.label}</strong> <span class="hint">${providerTitle(c.provider)}</span></td>
  <td data-label="How">${howOf(c)}</td>
  <td data-label="Status">${statusCell(c, providerTitle(c.provider))}</td>
  <td data-label="Connected">${timeTag(c.createdAt)}</td>
  <td data-label="Last used">${timeTag(c.lastUsedAt, { empty: 'Never' })}</td>
  <td data-label="Actions"><form method="post" action="/console/connections/${c.id}/disconnect" class="inline-form">
    ${csrfField(csrf)}
    <button type="submit" class="button danger compact">Disconnect<span class="visually-hidden"> ${c.label}</span></button>
  </form></td>
</tr>`,
  );

  return html`<h1>Connected accounts</h1>
<p>Accounts oauth3 uses on your behalf when an app or agent you allowed posts for you. What you paste or approve here
is stored encrypted and never shown again, not to you and not to any app. Connecting a service again replaces the
account connected before.</p>
<section aria-labelledby="connections-title">
<h2 id="connections-title">Your accounts</h2>
${
  connections.length
    ? html`<table class="table">
<thead><tr><th scope="col">Account</th><th scope="col">How</th><th scope="col">Status</th><th scope="col">Connected</th><th scope="col">Last used</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : html`<p class="empty">You have not connected any account yet.</p>`
}
</section>
<section aria-labelledby="connect-title">
<h2 id="connect-title">Connect an account</h2>
${
  ways.length
    ? ways.map((way) => wayBlock(way, csrf, problem?.kindId === way.id ? problem : undefined))
    : html`<p class="empty">This server offers no accounts to connect.</p>`
}
</section>
${ownApps ? ownAppsSection(ownApps, csrf) : ''}`;
}

/** What an own-app form starts with: the saved app's values, or what was typed before a problem. */
function draftOf(app: OwnerProviderView | undefined, problem: OwnAppProblem | undefined): Record<string, string> {
  if (problem) return problem.values;
  if (!app) return { usePkce: 'on', tokenAuthMethod: 'basic' };
  return {
    title: app.title,
    authorizationUrl: app.authorization_url,
    tokenUrl: app.token_url,
    clientId: app.client_id,
    scopes: app.scopes.join(' '),
    ...(app.use_pkce ? { usePkce: 'on' } : {}),
    tokenAuthMethod: app.token_auth_method,
    apiBaseUrl: app.api_base_url ?? '',
    allowedPaths: app.allowed_paths.join(' '),
  };
}

/** One text field of the own-app form, with its plain-words hint. */
function textField(prefix: string, name: string, label: string, value: string, hint: string, type = 'text', required = true): SafeHtml {
  const id = `${prefix}-${name}`;
  return html`<div class="field">
  <label for="${id}">${label}</label>
  <input id="${id}" name="${name}" type="${type}" value="${value}" autocomplete="off" spellcheck="false" aria-describedby="${id}-hint"${required ? html` required` : ''}>
  <span class="hint" id="${id}-hint">${hint}</span>
</div>`;
}

/** The form to add (no `app`) or change one of the owner's own OAuth apps. The secret field always starts empty. */
function ownAppForm(app: OwnerProviderView | undefined, csrf: string, problem: OwnAppProblem | undefined): SafeHtml {
  const prefix = app ? `own-app-${app.id}` : 'own-app-new';
  const v = draftOf(app, problem);
  const secretHint = app?.client_secret_set
    ? 'A secret is set (it is never shown again). Leave this empty to keep it, or enter a new one to replace it.'
    : 'Shown next to the client ID at the provider. Leave it empty if the provider gave you none (then PKCE is required).';
  return html`<form method="post" action="${app ? `/console/connections/own/${app.id}` : '/console/connections/own'}" class="connect-form">
  ${csrfField(csrf)}
  ${problem ? html`<p class="field-error" role="alert">${problem.message}</p>` : ''}
  ${textField(prefix, 'title', 'Name of the service', v.title ?? '', 'How you and your apps will recognise it, such as "My calendar".')}
  ${textField(prefix, 'authorizationUrl', 'Authorization URL', v.authorizationUrl ?? '', 'In the provider\'s developer documentation, often called "authorize endpoint". It starts with https://.', 'url')}
  ${textField(prefix, 'tokenUrl', 'Token URL', v.tokenUrl ?? '', 'In the same documentation, often called "token endpoint". It starts with https://.', 'url')}
  ${textField(prefix, 'clientId', 'Client ID', v.clientId ?? '', 'Shown on the page of the OAuth app you created at the provider.')}
  ${textField(prefix, 'clientSecret', app?.client_secret_set ? 'Client secret (set)' : 'Client secret (optional)', '', secretHint, 'password', false)}
  ${
    app?.client_secret_set
      ? html`<div class="field field-check"><input type="checkbox" id="${prefix}-removeSecret" name="removeSecret"><label for="${prefix}-removeSecret">Remove the saved secret (a public app using PKCE only)</label></div>`
      : ''
  }
  ${textField(prefix, 'scopes', 'Scopes (optional)', v.scopes ?? '', 'What oauth3 may do there, separated by spaces, as the provider\'s documentation names them (such as "read write").', 'text', false)}
  <div class="field field-check"><input type="checkbox" id="${prefix}-usePkce" name="usePkce"${v.usePkce === 'on' ? html` checked` : ''}><label for="${prefix}-usePkce">Use PKCE (keep this on unless the provider refuses it)</label></div>
  <div class="field">
    <label for="${prefix}-tokenAuthMethod">How the secret is sent</label>
    <select id="${prefix}-tokenAuthMethod" name="tokenAuthMethod">
      <option value="basic"${v.tokenAuthMethod !== 'post' ? html` selected` : ''}>In the Authorization header (most providers)</option>
      <option value="post"${v.tokenAuthMethod === 'post' ? html` selected` : ''}>In the request body</option>
    </select>
  </div>
  ${textField(prefix, 'apiBaseUrl', 'API base URL (optional)', v.apiBaseUrl ?? '', "Where the provider's API lives, such as https://api.example.com. Needed for your apps to call it through oauth3.", 'url', false)}
  ${textField(prefix, 'allowedPaths', 'Allowed API paths (optional)', v.allowedPaths ?? '', 'Path prefixes your apps may call under the API base URL, separated by spaces, such as "/v1/events". Empty allows every path.', 'text', false)}
  <button type="submit" class="button primary compact">${app ? html`Save changes<span class="visually-hidden"> to ${app.title}</span>` : 'Save service'}</button>
</form>`;
}

/** "Connect another service with your own OAuth app": the owner's own providers, each editable, and the form to add one. */
function ownAppsSection({ apps, redirectUri, problem }: NonNullable<ConnectionsPageInput['ownApps']>, csrf: string): SafeHtml {
  const newProblem = problem && !problem.id ? problem : undefined;
  return html`<section aria-labelledby="own-apps-title">
<h2 id="own-apps-title">Connect another service with your own OAuth app</h2>
<p>If the service you want is not listed above, you can still connect it when it offers OAuth 2.0 sign-in. First create
an "OAuth app" (sometimes called a "client" or "integration") in that service's developer settings. Register this address
there as its redirect URI (also called callback URL):</p>
<p><code class="snippet">${redirectUri}</code></p>
<p>Then copy the values the service shows you into the form below. Only you can use the services you add here; the client
secret is stored encrypted and never shown again. Apps reach them with the permission "Use the services you connected
with your own OAuth apps" (<code>upstream:own</code>).</p>
${apps.map(
  (app) => html`<details class="policy" id="own-app-${app.id}"${problem?.id === app.id ? html` open` : ''}>
<summary><strong>${app.title}</strong> <span class="hint">${app.id} · ${new URL(app.authorization_url).host}${app.client_secret_set ? ' · secret set' : ' · no secret'}</span></summary>
${ownAppForm(app, csrf, problem?.id === app.id ? problem : undefined)}
<form method="post" action="/console/connections/own/${app.id}/delete" class="inline-form">
  ${csrfField(csrf)}
  <button type="submit" class="button danger compact">Remove<span class="visually-hidden"> ${app.title}</span></button>
  <span class="hint">Removing it also disconnects its account.</span>
</form>
</details>`,
)}
<details class="policy"${newProblem || !apps.length ? html` open` : ''}>
<summary><strong>Add a service</strong></summary>
${ownAppForm(undefined, csrf, newProblem)}
</details>
</section>`;
}

/**
 * /console/connections/connect/:provider, where the bot's /connect and the consent page lead: the ways to connect one
 * provider, alone. With `returnTo` (a consent page), every form carries it and the owner goes back there once connected.
 */
export function connectProviderBody({
  title,
  ways,
  csrf,
  connected,
  returnTo,
  problem,
}: {
  title: string;
  ways: ConnectWay[];
  csrf: string;
  connected?: Connection;
  returnTo?: string;
  problem?: ConnectProblem;
}): SafeHtml {
  return html`<h1>Connect ${title}</h1>
<p>oauth3 uses this account on your behalf when an app or agent you allowed posts for you. What you paste or approve
here is stored encrypted and never shown again.</p>
${returnTo ? html`<p class="status" role="note">Once ${title} is connected, you go back to the app's request to approve or deny it.</p>` : ''}
${connected ? html`<p>You have connected <strong>${connected.label}</strong> already; connecting again replaces it.</p>` : ''}
${ways.map((way) => wayBlock(way, csrf, problem?.kindId === way.id ? problem : undefined, returnTo))}
${
  returnTo
    ? html`<p><a href="${returnTo}">Back to the app's request without connecting</a></p>`
    : html`<p><a href="/console/connections">All your connected accounts</a></p>`
}`;
}

const returnField = (returnTo: string | undefined) => (returnTo ? html`<input type="hidden" name="return_to" value="${returnTo}">` : '');

function wayBlock(way: ConnectWay, csrf: string, problem: ConnectProblem | undefined, returnTo?: string): SafeHtml {
  const titleId = `way-${slug(way.id)}`;
  return html`<div class="connect-way" role="group" aria-labelledby="${titleId}">
<h3 id="${titleId}">${way.title}</h3>
<p>${way.description}</p>
${way.paste?.guide?.length ? guideBlock(way.paste.guide) : ''}
${way.paste ? pasteForm(way, way.paste.fields, csrf, problem, returnTo) : ''}
${
  way.oauth
    ? html`<form method="post" action="/console/connections/oauth/${way.oauth.provider}" class="inline-form">
  ${csrfField(csrf)}
  ${returnField(returnTo)}
  <button type="submit" class="button primary compact">Connect<span class="visually-hidden"> ${way.title}</span></button>
</form>`
    : ''
}
</div>`;
}

/** Where to find what is pasted: one short numbered list per browser, folded so the page stays short on a phone. */
function guideBlock(guide: CredentialGuide[]): SafeHtml {
  return html`<div class="connect-guide">
<p><strong>Where to find it</strong> <span class="hint">(on a computer: phone browsers do not show cookies)</span></p>
${guide.map(
  (part, i) => html`<details class="policy"${i === 0 ? html` open` : ''}>
<summary>${part.title}</summary>
<ol class="steps">
${part.steps.map((step) => html`<li>${step}</li>`)}
</ol>
</details>`,
)}
</div>`;
}

function pasteForm(
  way: ConnectWay,
  fields: CredentialField[],
  csrf: string,
  problem: ConnectProblem | undefined,
  returnTo: string | undefined,
): SafeHtml {
  const id = (field: CredentialField) => `${slug(way.id)}-${slug(field.name)}`;
  const problemId = `${slug(way.id)}-problem`;
  const input = (field: CredentialField) => {
    // A secret typed before an error is not sent back: the page would then hold it (and the browser's cache).
    const value = field.type === 'password' ? '' : (problem?.values[field.name] ?? '');
    const ids = [...(problem ? [problemId] : []), ...(field.help ? [`${id(field)}-hint`] : [])];
    const described = ids.length ? html` aria-describedby="${ids.join(' ')}"` : '';
    const invalid = problem ? html` aria-invalid="true"` : '';
    const required = field.required === false ? '' : html` required`;
    return field.type === 'textarea'
      ? html`<textarea id="${id(field)}" name="${field.name}" rows="3"${described}${invalid}${required}>${value}</textarea>`
      : html`<input id="${id(field)}" name="${field.name}" type="${field.type}" value="${value}" autocomplete="off" spellcheck="false"${described}${invalid}${required}>`;
  };
  return html`<form method="post" action="/console/connections" class="connect-form">
  ${csrfField(csrf)}
  <input type="hidden" name="kind" value="${way.id}">
  ${returnField(returnTo)}
  ${problem ? html`<p class="field-error" role="alert" id="${problemId}">${problem.message}</p>` : ''}
  ${fields.map(
    (field) => html`<div class="field">
    <label for="${id(field)}">${field.label}</label>
    ${input(field)}
    ${field.help ? html`<span class="hint" id="${id(field)}-hint">${field.help}</span>` : ''}
  </div>`,
  )}
  <button type="submit" class="button primary compact">Check and connect<span class="visually-hidden"> ${way.title}</span></button>
</form>`;
}

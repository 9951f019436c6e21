import { html, type SafeHtml } from '../../web/html.js';
import type { Connection } from '../../connections/store.js';
import type { CredentialField } from '../../plugins/plugin.js';
import { csrfField, when } from '../../web/forms.js';

/** One way to connect an account: a credential kind from a plugin, or an upstream OAuth provider from config. */
export interface ConnectWay {
  /** The credential kind id (`telegram.bot`), or `oauth2:<provider>` for a provider no plugin describes. */
  id: string;
  provider: string;
  title: string;
  description: string;
  paste?: { fields: CredentialField[] };
  /** The upstream provider to start an OAuth connect with. */
  oauth?: { provider: string };
}

/** A paste form sent back with a problem: which kind, what to say, and what was typed (never a secret field). */
export interface ConnectProblem {
  kindId: string;
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
}

const slug = (value: string) => value.replace(/[^A-Za-z0-9_-]/g, '-');

function statusCell(c: Connection, providerTitle: string): SafeHtml {
  if (c.status === 'active') return html`<span class="badge badge-read">Active</span>`;
  return html`<span class="badge badge-relink">Needs re-link</span>
    <p class="hint">${providerTitle} no longer accepts this connection${c.lastError ? html` (${c.lastError})` : ''}. Apps
    cannot use it until you connect it again below.</p>`;
}

/** /console/connections: the owner's upstream accounts (never a secret) and the forms to connect more. */
export function connectionsBody({ connections, ways, csrf, problem, howOf, providerTitle }: ConnectionsPageInput): SafeHtml {
  const rows = connections.map(
    (c) => html`<tr>
  <td data-label="Account"><strong>${c.label}</strong> <span class="hint">${providerTitle(c.provider)}</span></td>
  <td data-label="How">${howOf(c)}</td>
  <td data-label="Status">${statusCell(c, providerTitle(c.provider))}</td>
  <td data-label="Connected">${when(c.createdAt)}</td>
  <td data-label="Last used">${when(c.lastUsedAt)}</td>
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
</section>`;
}

function wayBlock(way: ConnectWay, csrf: string, problem: ConnectProblem | undefined): SafeHtml {
  const titleId = `way-${slug(way.id)}`;
  return html`<div class="connect-way" role="group" aria-labelledby="${titleId}">
<h3 id="${titleId}">${way.title}</h3>
<p>${way.description}</p>
${way.paste ? pasteForm(way, way.paste.fields, csrf, problem) : ''}
${
  way.oauth
    ? html`<form method="post" action="/console/connections/oauth/${way.oauth.provider}" class="inline-form">
  ${csrfField(csrf)}
  <button type="submit" class="button primary compact">Connect<span class="visually-hidden"> ${way.title}</span></button>
</form>`
    : ''
}
</div>`;
}

function pasteForm(way: ConnectWay, fields: CredentialField[], csrf: string, problem: ConnectProblem | undefined): SafeHtml {
  const id = (field: CredentialField) => `${slug(way.id)}-${slug(field.name)}`;
  const input = (field: CredentialField) => {
    // A secret typed before an error is not sent back: the page would then hold it (and the browser's cache).
    const value = field.type === 'password' ? '' : (problem?.values[field.name] ?? '');
    const described = field.help ? html` aria-describedby="${id(field)}-hint"` : '';
    const required = field.required === false ? '' : html` required`;
    return field.type === 'textarea'
      ? html`<textarea id="${id(field)}" name="${field.name}" rows="3"${described}${required}>${value}</textarea>`
      : html`<input id="${id(field)}" name="${field.name}" type="${field.type}" value="${value}" autocomplete="off" spellcheck="false"${described}${required}>`;
  };
  return html`<form method="post" action="/console/connections" class="connect-form">
  ${csrfField(csrf)}
  <input type="hidden" name="kind" value="${way.id}">
  ${problem ? html`<p class="field-error" role="alert">${problem.message}</p>` : ''}
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

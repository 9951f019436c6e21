import { html } from '../../web/html.js';
import { copyButton } from '../../web/copy.js';
import { timeTag } from '../../web/time.js';
import type { AgentService } from '../../agents/agent-services.js';
import { canWrite } from './apps.js';
import { scopeBadge } from '../../web/scope-badges.js';
import { csrfField } from '../../web/forms.js';
import { scopeChoices } from './scope-choices.js';
import type { ScopeCatalog } from '../../../scopes/catalog.js';

export interface AgentsPageInput {
  /** The scopes this server knows, to name each and to offer them. */
  scopes: ScopeCatalog;
  agents: AgentService[];
  csrf: string;
  /** Where an agent asks for tokens. */
  tokenEndpoint: string;
  /** The resource API its tokens are for (RFC 8707 `resource`). */
  resource: string;
  /** The agent just registered: its secret is on this one page and nowhere else. */
  created?: {
    clientId: string;
    clientSecret: string;
    name: string;
    scopes: string[];
    /** Set after a rotation: when the replaced secrets stop working. */ oldSecretsUntil?: Date;
  };
  /** What the owner typed, when the form is shown again with a problem. */
  draft?: { name?: string; scopes?: string[] };
}

/** /console/agents: register an agent service (its secret shown once), and the list with a revoke button each. */
export function agentsBody({ agents, csrf, tokenEndpoint, resource, created, draft = {}, scopes }: AgentsPageInput) {
  const checked = new Set(draft.scopes ?? []);

  const rows = agents.map(
    (a) => html`<tr>
  <td data-label="Name"><strong>${a.name}</strong><div class="hint"><code>${a.clientId}</code></div></td>
  <td data-label="Can"><ul class="scope-list">${a.scopes.map((name) => scopeBadge(scopes, name))}</ul></td>
  <td data-label="Registered">${timeTag(a.createdAt)}</td>
  <td data-label="Last used">${timeTag(a.lastUsedAt, { empty: 'Never' })}</td>
  <td data-label="Actions"><form method="post" action="/console/agents/${a.clientId}/revoke" class="inline-form">
    ${csrfField(csrf)}
    <button type="submit" class="button danger compact">Revoke<span class="visually-hidden"> ${a.name}</span></button>
  </form> <form method="post" action="/console/agents/${a.clientId}/secret" class="inline-form">
    ${csrfField(csrf)}
    <button type="submit" class="button compact">New secret<span class="visually-hidden"> for ${a.name}</span></button>
  </form>${
    canWrite(scopes, a.scopes)
      ? // The agent holds a grant like any app: its limits are set with the apps' (Connected apps, Limits).
        html` <a href="/console/apps?limits=${a.grantId}#limits-${a.grantId}">Limits<span class="visually-hidden"> of ${a.name}</span></a>`
      : ''
  }</td>
</tr>`,
  );

  return html`<h1>Agent services</h1>
<p>An agent service is a program of yours that runs on its own (a bot, a scheduled job) and asks oauth3 for tokens
whenever it needs them, with a client id and a secret. It acts on your connected accounts with the permissions you
pick here and within the limits you set, until you revoke it. For a one-off token, use
<a href="/console/tokens">Agent tokens</a> instead.</p>
${
  created
    ? html`<section class="new-token" aria-labelledby="new-agent-title">
<h2 id="new-agent-title">${created.oldSecretsUntil ? html`A new secret for “${created.name}”` : html`Your new agent “${created.name}”`}</h2>
<div class="field">
  <label for="new-agent-client-id">Client id</label>
  <input id="new-agent-client-id" class="token-value" type="text" readonly value="${created.clientId}" autocomplete="off" spellcheck="false">
  ${copyButton('new-agent-client-id', 'client id')}
</div>
<div class="field">
  <label for="new-agent-secret">Client secret</label>
  <input id="new-agent-secret" class="token-value" type="text" readonly value="${created.clientSecret}" autocomplete="off" spellcheck="false">
  ${copyButton('new-agent-secret', 'client secret')}
  <span class="hint">Copy it now and give it to your agent: it is shown only this once; oauth3 keeps only a digest.${
    created.oldSecretsUntil ? html` The old secret keeps working until ${timeTag(created.oldSecretsUntil, { style: 'absolute' })}.` : ''
  }</span>
</div>
<div class="field">
  <label for="new-agent-request">The agent gets a token with</label>
  <textarea id="new-agent-request" class="token-value" readonly rows="4" spellcheck="false">curl -u "${created.clientId}:$CLIENT_SECRET" -d grant_type=client_credentials -d scope="${created.scopes.join(' ')}" -d resource=${resource} ${tokenEndpoint}</textarea>
  ${copyButton('new-agent-request', 'command')}
  <span class="hint">and calls the API under <code>${resource}</code> with <code>Authorization: Bearer</code> and that token.</span>
</div>
</section>`
    : ''
}
<section aria-labelledby="register-title">
<h2 id="register-title">Register an agent</h2>
<form method="post" action="/console/agents" class="token-form">
  ${csrfField(csrf)}
  <div class="field">
    <label for="agent-name">Name</label>
    <input id="agent-name" name="name" type="text" required maxlength="60" value="${draft.name ?? ''}" autocomplete="off">
    <span class="hint">Which agent it is, so you can tell your agents apart.</span>
  </div>
  ${scopeChoices(scopes, 'agent-scope-', checked)}
  <button type="submit" class="button primary compact">Register agent</button>
</form>
</section>
<section aria-labelledby="agents-title">
<h2 id="agents-title">Your agents</h2>
${
  agents.length
    ? html`<table class="table">
<thead><tr><th scope="col">Name</th><th scope="col">Can</th><th scope="col">Registered</th><th scope="col">Last used</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : html`<p class="empty">You have not registered any agent services.</p>`
}
</section>`;
}

import { html } from '../../web/html.js';
import { copyButton } from '../../web/copy.js';
import { timeTag } from '../../web/time.js';
import type { AgentToken } from '../../grants/agent-tokens.js';
import { canWrite } from './apps.js';
import { scopeBadge } from '../../web/scope-badges.js';
import { csrfField } from '../../web/forms.js';
import { scopeChoices } from './scope-choices.js';
import type { ScopeCatalog } from '../../../scopes/catalog.js';

export const LIFETIME_CHOICES = [
  { hours: 1, label: '1 hour' },
  { hours: 24, label: '24 hours' },
  { hours: 168, label: '7 days' },
  { hours: 720, label: '30 days' },
] as const;

export interface TokensPageInput {
  /** The scopes this server knows, to name each and to offer them. */
  scopes: ScopeCatalog;
  tokens: AgentToken[];
  csrf: string;
  /** The token just minted: its value is on this one page and nowhere else. */
  created?: { token: string; name: string; resource?: string };
  /** What the owner typed, when the form is shown again with a problem. */
  draft?: { name?: string; scopes?: string[]; lifetimeHours?: number; resource?: string };
}

/** Where a token works, in the owner's words: the resource API, or the MCP server (/console/mcp). */
export const RESOURCE_CHOICES = [
  { value: 'api', label: 'Programs that call the oauth3 API' },
  { value: 'mcp', label: 'AI assistants that use MCP' },
] as const;

const statusOf = (t: AgentToken) => (t.revokedAt ? 'Revoked' : t.expiresAt.getTime() <= Date.now() ? 'Expired' : 'Active');

/** /console/tokens: mint a token for an agent (shown once), and the list of tokens with a revoke button each. */
export function tokensBody({ tokens, csrf, created, draft = {}, scopes }: TokensPageInput) {
  const lifetime = draft.lifetimeHours ?? 24;
  const checked = new Set(draft.scopes ?? []);
  const resource = draft.resource ?? 'api';

  const rows = tokens.map((t) => {
    const status = statusOf(t);
    return html`<tr>
  <td data-label="Name"><strong>${t.name}</strong> <span class="badge ${status === 'Active' ? 'badge-read' : 'badge-identity'}">${status}</span>${
    t.resource === 'mcp' ? html` <span class="badge badge-resource">For MCP</span>` : ''
  }</td>
  <td data-label="Can"><ul class="scope-list">${t.scopes.map((name) => scopeBadge(scopes, name))}</ul></td>
  <td data-label="Created">${timeTag(t.createdAt)}</td>
  <td data-label="Expires">${timeTag(t.expiresAt)}</td>
  <td data-label="Last used">${timeTag(t.lastUsedAt, { empty: 'Never' })}</td>
  <td data-label="Actions">${
    status === 'Active'
      ? html`<form method="post" action="/console/tokens/${t.id}/revoke" class="inline-form">
    ${csrfField(csrf)}
    <button type="submit" class="button danger compact">Revoke<span class="visually-hidden"> ${t.name}</span></button>
  </form>${
    canWrite(scopes, t.scopes)
      ? // A token is a grant of its own: its limits are set with the apps' (Connected apps, Limits).
        html` <a href="/console/apps?limits=${t.grantId}#limits-${t.grantId}">Limits<span class="visually-hidden"> of ${t.name}</span></a>`
      : ''
  }`
      : '—'
  }</td>
</tr>`;
  });

  return html`<h1>Agent tokens</h1>
<p>A token lets an agent of yours use your oauth3 account with the permissions you pick, until it expires or you
revoke it. Give each agent its own token, so you can stop one without stopping the others.</p>
${
  created
    ? html`<section class="new-token" aria-labelledby="new-token-title">
<h2 id="new-token-title">Your new token for “${created.name}”</h2>
<div class="field">
  <label for="new-token-value">Token</label>
  <input id="new-token-value" class="token-value" type="text" readonly value="${created.token}" autocomplete="off" spellcheck="false">
  ${copyButton('new-token-value', 'token')}
  <span class="hint">Copy it now and give it to your agent. It is shown only this once;
  oauth3 keeps only its name, permissions and dates.</span>
</div>${
        created.resource === 'mcp'
          ? html`
<p>It works only with the MCP server. <a href="/console/mcp">Use with an MCP client</a> shows what to paste
into your assistant’s settings: use the token as its “Authorization: Bearer” header.</p>`
          : ''
      }
</section>`
    : ''
}
<section aria-labelledby="mint-title">
<h2 id="mint-title">Make a token</h2>
<form method="post" action="/console/tokens" class="token-form">
  ${csrfField(csrf)}
  <div class="field">
    <label for="token-name">Name</label>
    <input id="token-name" name="name" type="text" required maxlength="60" value="${draft.name ?? ''}" autocomplete="off">
    <span class="hint">Which agent it is for, so you can tell your tokens apart.</span>
  </div>
  ${scopeChoices(scopes, 'scope-', checked)}
  <div class="field">
    <label for="token-resource">Used by</label>
    <select id="token-resource" name="resource">
      ${RESOURCE_CHOICES.map((c) => html`<option value="${c.value}"${c.value === resource ? html` selected` : ''}>${c.label}</option>`)}
    </select>
    <span class="hint">A token works with one of the two, never both. For an AI assistant, <a href="/console/mcp">Use with an MCP client</a> also shows what to paste where.</span>
  </div>
  <div class="field">
    <label for="token-lifetime">Works for</label>
    <select id="token-lifetime" name="lifetime_hours">
      ${LIFETIME_CHOICES.map((c) => html`<option value="${c.hours}"${c.hours === lifetime ? html` selected` : ''}>${c.label}</option>`)}
    </select>
  </div>
  <button type="submit" class="button primary compact">Make token</button>
</form>
</section>
<section aria-labelledby="tokens-title">
<h2 id="tokens-title">Your tokens</h2>
${
  tokens.length
    ? html`<table class="table">
<thead><tr><th scope="col">Name</th><th scope="col">Can</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : html`<p class="empty">You have not made any agent tokens.</p>`
}
</section>`;
}

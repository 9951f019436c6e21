import { html, httpsUrl, type SafeHtml } from '../../src/web/html.js';
import { layout } from '../../src/web/layout.js';
import { deploymentBadge, type DeploymentInfo } from '../../src/web/deployment-badge.js';
import { policyFields, type PolicyDraft, type PolicyField } from '../../src/policies/form.js';
import type { NeededAccount } from '../../src/connections/needed.js';

export type ScopeAccess = 'read' | 'write' | 'identity';

export interface ConsentScope {
  name: string;
  title: string;
  description: string;
  access: ScopeAccess;
}

export interface ConsentPageInput {
  uid: string;
  csrf: string;
  /** `device`: a device asked (RFC 8628), so there is no redirect host: the tokens go to that device. */
  /** `exchanges`: registered for token exchange, so it may hand narrower tokens to its own helpers. */
  client: { name: string; redirectHost: string; logoUri?: string; clientId: string; device?: boolean; exchanges?: boolean };
  scopes: ConsentScope[];
  /** The owner's name (src/accounts/display-name.ts); without one the page does not name the account. */
  account: { label?: string };
  lifetime: string;
  /** TEE mode: shows the "Verified deployment" mark. */
  deployment?: DeploymentInfo;
  /** Accounts these scopes act with that the owner has not connected (or must connect again). */
  needed?: NeededAccount[];
}

/** The limits offered at consent; the rest are set later in the console. */
export const CONSENT_LIMITS: PolicyField[] = ['posts_per_day', 'hold_for_approval', 'no_links'];
/** Field names of the limits on the approve form: `limit_posts_per_day` ... */
export const LIMIT_PREFIX = 'limit_';
const NO_LIMITS: PolicyDraft = {
  posts_per_day: '',
  blocked_words: '',
  blocked_patterns: '',
  no_links: false,
  no_mentions: false,
  hold_for_approval: false,
};

/**
 * A client ID metadata document's client (the MCP way) is named by the URL of its document: the only identity
 * oauth3 can vouch for is that URL's host, so the page shows it beside the self-declared name.
 */
function documentHost(clientId: string): string | undefined {
  return clientId.startsWith('https://') && URL.canParse(clientId) ? new URL(clientId).host : undefined;
}

/** Badge text carries the meaning; the colour only repeats it (WCAG 1.4.1, use of colour). */
const BADGES: Record<ScopeAccess, string> = { read: 'Read', write: 'Write', identity: 'Identity' };

/**
 * The consent screen says, in plain words, who is asking (name, redirect host), for what (each scope with its
 * access badge), for how long, and how to undo it. Every client string is escaped by `html`.
 */
export function consentPage({ uid, csrf, client, scopes, account, lifetime, deployment, needed = [] }: ConsentPageInput): string {
  const logo = httpsUrl(client.logoUri);
  const action = `/interaction/${encodeURIComponent(uid)}/consent`;

  const body = html`<section class="card" aria-labelledby="consent-title">
  <div class="client">
    ${logo && html`<img class="client-logo" src="${logo}" alt="" width="48" height="48">`}
    <h1 id="consent-title">${client.name} wants access to your oauth3 account</h1>
  </div>
  <p class="muted">${
    client.device
      ? html`The access goes to <strong>the device that showed you the code</strong>, not to this browser.`
      : html`It will send you back to <strong class="host">${client.redirectHost}</strong>.`
  }
    <span class="small">Client ID <code>${client.clientId}</code></span></p>
  ${
    documentHost(client.clientId) &&
    html`<p class="status" role="note">This app describes itself in a document at
    <strong class="host">${documentHost(client.clientId)}</strong>: oauth3 has not checked its name or logo. Approve only if
    you trust that site.</p>`
  }
  <p class="signed-in">${account.label ? html`Signed in as <strong>${account.label}</strong>` : html`Signed in to your oauth3 account`}</p>

  <h2>It is asking to</h2>
  <ul class="scopes">
    ${scopes.map(scopeItem)}
  </ul>
  ${needed.map((account) => neededNote(account, uid))}

  <h2>For how long</h2>
  <p>Access lasts ${lifetime}.</p>
  <p>You can revoke this access at any time from your oauth3 console.</p>
  ${
    client.exchanges &&
    html`<p class="delegation-note">${client.name} may hand narrower access to its own helpers: never more than what you
    approve here, and revoking ${client.name} revokes them too.</p>`
  }
  ${scopes.some((s) => s.access === 'write') ? limitsSection() : ''}

  <div class="actions">
    ${decisionForm(action, csrf, 'approve')}
    ${decisionForm(action, csrf, 'deny')}
  </div>
</section>`;

  return layout({ title: `Allow ${client.name}?`, body, nav: deploymentBadge(deployment) || undefined });
}

/**
 * "You have not connected X yet": approving still works, but the app cannot act until the account is there. The link
 * opens the console's connect page for that provider, which comes back to this same consent page afterwards.
 */
function neededNote(account: NeededAccount, uid: string): SafeHtml {
  const back = `/interaction/${encodeURIComponent(uid)}`;
  const href = `/console/connections/connect/${encodeURIComponent(account.provider)}?return_to=${encodeURIComponent(back)}`;
  const what = account.writes ? 'post' : `use your ${account.title} account`;
  const said =
    account.state === 'missing'
      ? `You have not connected ${account.title} yet: the app will not be able to ${what} until you do.`
      : `${account.title} no longer accepts the account you connected: the app will not be able to ${what} until you connect it again.`;
  return html`<div class="status needed-account" role="note">
    <p>${said}</p>
    <p><a class="button secondary" href="${href}">Connect ${account.title}</a>
    <span class="small">You come back to this page afterwards.</span></p>
  </div>`;
}

function scopeItem(scope: ConsentScope): SafeHtml {
  return html`<li class="scope">
      <div class="scope-head">
        <span class="badge badge-${scope.access}">${BADGES[scope.access]}</span>
        <strong class="scope-title">${scope.title}</strong>
      </div>
      <p class="scope-description">${scope.description}</p>
      <code class="scope-name">${scope.name}</code>
    </li>`;
}

/**
 * Optional limits for an app that can write, collapsed so that approving stays one click. The inputs belong to the
 * approve form through the HTML `form` attribute: they are sent with "Allow" and never with "Deny".
 */
function limitsSection(): SafeHtml {
  return html`<details class="limits">
    <summary>Limits (optional)</summary>
    <p class="muted small">Set what this app may do with your accounts. You can change these later in your console.</p>
    ${policyFields({ draft: NO_LIMITS, idPrefix: 'limit-', namePrefix: LIMIT_PREFIX, only: CONSENT_LIMITS, form: 'consent-approve' })}
  </details>`;
}

function decisionForm(action: string, csrf: string, decision: 'approve' | 'deny'): SafeHtml {
  return html`<form method="post" action="${action}"${decision === 'approve' ? html` id="consent-approve"` : ''}>
      <input type="hidden" name="csrf" value="${csrf}">
      <input type="hidden" name="decision" value="${decision}">
      ${
        decision === 'approve'
          ? html`<button type="submit" class="button primary">Allow</button>`
          : html`<button type="submit" class="button secondary">Deny</button>`
      }
    </form>`;
}

import { html, type SafeHtml } from '../../web/html.js';
import { breakable } from './breakable.js';
import { timeTag } from '../../web/time.js';
import type { HeldAction, HeldStatus } from '../../policies/held.js';
import { csrfField } from '../../web/forms.js';

export interface HeldView {
  held: HeldAction;
  /** Who asked, in the owner's words (`Photo app`, `Your agent: Research bot`). */
  app: string;
  /** The title of the scope the action needs, if the catalog knows it ("Post on X as you"). */
  scopeTitle?: string;
}

export interface ApprovalsPageInput {
  pending: HeldView[];
  recent: HeldView[];
  csrf: string;
}

const STATUS: Record<HeldStatus, { text: string; badge: string }> = {
  pending: { text: 'Waiting', badge: 'badge-identity' },
  approved: { text: 'Approved and sent', badge: 'badge-read' },
  rejected: { text: 'Rejected', badge: 'badge-identity' },
  failed: { text: 'Approved, sending failed', badge: 'badge-write' },
  expired: { text: 'Expired', badge: 'badge-identity' },
};

/** "Post on X as you (tweet.post)": the scope's title when the catalog knows it, else the action's id. */
function actionText(view: HeldView): SafeHtml {
  return view.scopeTitle
    ? html`${view.scopeTitle} <code class="scope-name">${view.held.action}</code>`
    : html`<code class="scope-name">${view.held.action}</code>`;
}

const errorOf = (held: HeldAction) => {
  const result = held.result as { error?: unknown } | undefined;
  return held.status === 'failed' && typeof result?.error === 'string' ? result.error : undefined;
};

function pendingItem(view: HeldView, csrf: string): SafeHtml {
  const { held } = view;
  const action = `/console/approvals/${held.id}`;
  return html`<article class="held" aria-labelledby="held-${held.id}">
<h3 id="held-${held.id}">${view.app} <span class="hint">wants to</span> ${actionText(view)}</h3>
<p class="hint">Asked ${timeTag(held.createdAt)}</p>
<blockquote class="held-text">${held.summary}</blockquote>
<details class="held-details"><summary>Everything the app sent</summary>
<pre>${JSON.stringify(held.payload, null, 2)}</pre>
</details>
<div class="held-actions">
  <form method="post" action="${action}/approve" class="inline-form">
    ${csrfField(csrf)}
    <button type="submit" class="button primary compact">Approve<span class="visually-hidden"> the post from ${view.app}</span></button>
  </form>
  <form method="post" action="${action}/reject" class="inline-form">
    ${csrfField(csrf)}
    <button type="submit" class="button danger compact">Reject<span class="visually-hidden"> the post from ${view.app}</span></button>
  </form>
</div>
</article>`;
}

function recentRow(view: HeldView): SafeHtml {
  const { held } = view;
  const status = STATUS[held.status];
  const error = errorOf(held);
  return html`<tr>
  <td data-label="App"><strong>${view.app}</strong></td>
  <td data-label="Action">${actionText(view)}</td>
  <td data-label="Text" class="held-summary">${breakable(held.summary)}</td>
  <td data-label="Decision"><span class="badge ${status.badge}">${status.text}</span>${error ? html` <code>${error}</code>` : ''}</td>
  <td data-label="Decided">${timeTag(held.decidedAt)}</td>
</tr>`;
}

/** /console/approvals: posts held by an app's "hold for my approval" limit, each with the full text, and the decisions. */
export function approvalsBody({ pending, recent, csrf }: ApprovalsPageInput): SafeHtml {
  return html`<h1>Approvals</h1>
<p>Apps whose limits say “Hold for my approval” wait here: nothing is sent until you approve it. Read the whole text
first; approving sends it at once, with your account.</p>
<section aria-labelledby="pending-title">
<h2 id="pending-title">Waiting for you${pending.length ? ` (${pending.length})` : ''}</h2>
${pending.length ? pending.map((view) => pendingItem(view, csrf)) : html`<p class="empty">Nothing is waiting for your approval.</p>`}
</section>
<section aria-labelledby="recent-title">
<h2 id="recent-title">Recent decisions</h2>
${
  recent.length
    ? html`<table class="table">
<thead><tr><th scope="col">App</th><th scope="col">Action</th><th scope="col">Text</th><th scope="col">Decision</th><th scope="col">Decided</th></tr></thead>
<tbody>
${recent.map(recentRow)}
</tbody>
</table>`
    : html`<p class="empty">You have not decided on any post yet.</p>`
}
</section>`;
}

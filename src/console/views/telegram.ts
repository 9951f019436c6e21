import { html } from '../../web/html.js';
import { copyButton } from '../../web/copy.js';
import { timeTag } from '../../web/time.js';
import { csrfField } from '../../web/forms.js';
import type { TelegramLink } from '../../accounts/telegram-links.js';
import { isNoticeKind, NOTICE_KINDS, type NoticeKind } from '../../notices/kinds.js';
import type { OutboxMessage } from '../../notices/outbox.js';

export interface TelegramPageInput {
  csrf: string;
  /** False when this server runs no bot (no TELEGRAM_BOT_TOKEN). */
  available: boolean;
  link?: TelegramLink;
  /** A link just made: shown on this one page, valid for ten minutes and once. */
  created?: { url: string; expiresAt: Date };
  /** The notice kinds the owner switched off (when linked). */
  disabled?: Set<NoticeKind>;
  /** Messages the bot could not deliver, newest first (when linked). */
  undelivered?: OutboxMessage[];
}

/** The first line of a message, cut to about 120 characters: enough to recognise it. */
export function preview(text: string): string {
  const line = text.split('\n').find((l) => l.trim()) ?? '';
  return line.length > 120 ? `${line.slice(0, 119).trimEnd()}…` : line;
}

/** What Telegram's error means for the owner, in plain words; Telegram's own words are shown beside it. */
export function plainReason(said: string | null): string {
  if (!said) return 'Telegram did not say why.';
  if (/blocked by the user/i.test(said))
    return 'You blocked the bot in Telegram. Open the chat with it and press Restart, then send again.';
  if (/deactivated|chat not found|kicked|not a member/i.test(said))
    return 'Telegram cannot find the chat any more. Link your Telegram again, then send again.';
  if (/too many requests/i.test(said)) return 'Telegram asked the bot to slow down.';
  if (/message to edit not found|message can't be edited/i.test(said)) return 'The message it changes is gone from the chat.';
  if (/internal server error|bad gateway|could not be reached|unreadable|timed out|timeout/i.test(said))
    return 'Telegram could not be reached or had a problem of its own.';
  if (/bad request/i.test(said)) return 'Telegram refused the message.';
  return 'Telegram did not take the message.';
}

/** What a message was, in the owner's words. */
const kindLabel = (kind: string) => (kind === 'edit' ? 'A change to an earlier message' : isNoticeKind(kind) ? NOTICE_KINDS[kind] : kind);

/** How the owner's Telegram account reads: "@name (First)", or what there is of it. */
export function telegramName(link: Pick<TelegramLink, 'username' | 'firstName' | 'userId'>): string {
  if (link.username && link.firstName) return `@${link.username} (${link.firstName})`;
  if (link.username) return `@${link.username}`;
  return link.firstName ?? `Telegram user ${link.userId}`;
}

const linked = (link: TelegramLink, csrf: string) => html`<section aria-labelledby="linked-title">
<h2 id="linked-title">Your Telegram account</h2>
<p><strong>${telegramName(link)}</strong></p>
<p class="hint">Linked ${timeTag(link.linkedAt)}. oauth3's bot can message you in that chat.</p>
<form method="post" action="/console/telegram/unlink">
  ${csrfField(csrf)}
  <button type="submit" class="button secondary compact">Unlink Telegram</button>
</form>
</section>`;

const noticeSwitches = (disabled: Set<NoticeKind>, csrf: string) => html`<section aria-labelledby="notices-title">
<h2 id="notices-title">What the bot tells you</h2>
<form method="post" action="/console/telegram/notices">
  ${csrfField(csrf)}
  <fieldset class="notice-kinds">
    <legend class="hint">Untick what you do not want to hear about in Telegram. Everything stays in the access log.</legend>
    ${(Object.entries(NOTICE_KINDS) as [NoticeKind, string][]).map(
      ([kind, label]) => html`<div class="field field-check">
      <input type="checkbox" id="notice-${kind}" name="${kind}" value="on"${disabled.has(kind) ? '' : html` checked`}>
      <label for="notice-${kind}">${label}</label>
    </div>`,
    )}
  </fieldset>
  <button type="submit" class="button primary compact">Save</button>
</form>
</section>`;

/** A date and time that never wraps at its hyphens ("2026-12-|06"). */
const at = (date: Date) => timeTag(date);

const undeliveredRow = (message: OutboxMessage, csrf: string) => {
  const gaveUp = message.status === 'failed';
  return html`<tr>
  <td data-label="When">${at(message.createdAt)}</td>
  <td data-label="What">${kindLabel(message.kind)}</td>
  <td data-label="Message">${preview(message.text)}</td>
  <td data-label="Why">${plainReason(message.lastError)}${message.lastError ? html`<br><span class="hint">Telegram said: ${message.lastError}</span>` : ''}</td>
  <td data-label="Status">${
    gaveUp
      ? html`<span class="badge badge-undelivered">Gave up</span>
    <form method="post" action="/console/telegram/undelivered/${message.id}/retry" class="inline-form">
      ${csrfField(csrf)}
      <button type="submit" class="button secondary compact">Send again<span class="visually-hidden"> the message of ${timeTag(message.createdAt, { style: 'absolute' })}</span></button>
    </form>`
      : html`<span class="badge badge-read">Retrying</span> <span class="hint next-try">Next try ${at(message.nextAttemptAt)}</span>`
  }</td>
</tr>`;
};

const undeliveredList = (messages: OutboxMessage[], csrf: string) => html`<section aria-labelledby="undelivered-title">
<h2 id="undelivered-title">Not delivered</h2>
${
  messages.length
    ? html`<p>Messages the bot could not get to you. It tries again on its own for a while; after that, send one again once the problem is fixed.</p>
<table class="table table-words">
<thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Message</th><th scope="col">Why</th><th scope="col">Status</th></tr></thead>
<tbody>
${messages.map((message) => undeliveredRow(message, csrf))}
</tbody>
</table>`
    : html`<p class="empty">Every message reached you.</p>`
}
</section>`;

const fresh = (created: NonNullable<TelegramPageInput['created']>) => html`<section class="new-token" aria-labelledby="new-link-title">
<h2 id="new-link-title">Your link is ready</h2>
<ol class="steps">
  <li>Open it on the phone or computer where you use Telegram.</li>
  <li>Telegram opens a chat with oauth3's bot: press <strong>Start</strong>.</li>
  <li>Come back here and <a href="/console/telegram">see your linked account</a>.</li>
</ol>
<p><a class="button primary" href="${created.url}" rel="noopener noreferrer">Open Telegram</a></p>
<div class="field">
  <label for="telegram-link">Or copy the link</label>
  <input id="telegram-link" class="token-value" type="text" readonly value="${created.url}" autocomplete="off" spellcheck="false">
  ${copyButton('telegram-link', 'link')}
  <span class="hint">It works once and only until ${timeTag(created.expiresAt, { style: 'absolute' })} (10 minutes). Do not share it: whoever opens it first links their Telegram to your account.</span>
</div>
</section>`;

const makeLink = (csrf: string, again: boolean) => html`<section aria-labelledby="make-title">
<h2 id="make-title">${again ? 'Make a new link' : 'Link your Telegram'}</h2>
<p>You get a link that opens a chat with oauth3's bot in Telegram. Press <strong>Start</strong> there and your Telegram is linked.</p>
<form method="post" action="/console/telegram/link">
  ${csrfField(csrf)}
  <button type="submit" class="button primary compact">${again ? 'Make a new link' : 'Make a link'}</button>
</form>
</section>`;

/**
 * /console/telegram: the linked Telegram account and "Unlink", what the bot tells the owner and what it could not
 * deliver; or a button that makes a one-time link.
 */
export function telegramBody({ csrf, available, link, created, disabled, undelivered }: TelegramPageInput) {
  const intro = html`<h1>Telegram</h1>
<p>Link your Telegram account to oauth3's bot, so oauth3 can reach you in Telegram.</p>`;
  if (!available) {
    return html`${intro}
<p class="empty">This oauth3 server has no Telegram bot yet. Its operator can set one up (see "oauth3's Telegram bot" in the README).</p>`;
  }
  return html`${intro}
${created ? fresh(created) : ''}
${
  link
    ? html`${linked(link, csrf)}
${noticeSwitches(disabled ?? new Set(), csrf)}
${undeliveredList(undelivered ?? [], csrf)}`
    : makeLink(csrf, Boolean(created))
}`;
}

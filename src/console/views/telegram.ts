import { html } from '../../web/html.js';
import { csrfField, when } from '../../web/forms.js';
import type { TelegramLink } from '../../accounts/telegram-links.js';

export interface TelegramPageInput {
  csrf: string;
  /** False when this server runs no bot (no TELEGRAM_BOT_TOKEN). */
  available: boolean;
  link?: TelegramLink;
  /** A link just made: shown on this one page, valid for ten minutes and once. */
  created?: { url: string; expiresAt: Date };
}

/** How the owner's Telegram account reads: "@name (First)", or what there is of it. */
export function telegramName(link: Pick<TelegramLink, 'username' | 'firstName' | 'userId'>): string {
  if (link.username && link.firstName) return `@${link.username} (${link.firstName})`;
  if (link.username) return `@${link.username}`;
  return link.firstName ?? `Telegram user ${link.userId}`;
}

const linked = (link: TelegramLink, csrf: string) => html`<section aria-labelledby="linked-title">
<h2 id="linked-title">Your Telegram account</h2>
<p><strong>${telegramName(link)}</strong></p>
<p class="hint">Linked ${when(link.linkedAt)}. oauth3's bot can message you in that chat.</p>
<form method="post" action="/console/telegram/unlink">
  ${csrfField(csrf)}
  <button type="submit" class="button secondary compact">Unlink Telegram</button>
</form>
</section>`;

const fresh = (created: NonNullable<TelegramPageInput['created']>) => html`<section class="new-token" aria-labelledby="new-link-title">
<h2 id="new-link-title">Your link is ready</h2>
<ol class="steps">
  <li>Open it on the phone or computer where you use Telegram.</li>
  <li>Telegram opens a chat with oauth3's bot: press <strong>Start</strong>.</li>
  <li>Come back here and reload this page to see your account.</li>
</ol>
<p><a class="button primary" href="${created.url}" rel="noopener noreferrer">Open Telegram</a></p>
<div class="field">
  <label for="telegram-link">Or copy the link</label>
  <input id="telegram-link" class="token-value" type="text" readonly value="${created.url}" autocomplete="off" spellcheck="false">
  <span class="hint">It works once and only until ${when(created.expiresAt)} (10 minutes). Do not share it: whoever opens it first links their Telegram to your account.</span>
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

/** /console/telegram: the linked Telegram account and "Unlink", or a button that makes a one-time link. */
export function telegramBody({ csrf, available, link, created }: TelegramPageInput) {
  const intro = html`<h1>Telegram</h1>
<p>Link your Telegram account to oauth3's bot, so oauth3 can reach you in Telegram.</p>`;
  if (!available) {
    return html`${intro}
<p class="empty">This oauth3 server has no Telegram bot yet. Its operator can set one up (see "oauth3's Telegram bot" in the README).</p>`;
  }
  return html`${intro}
${created ? fresh(created) : ''}
${link ? linked(link, csrf) : makeLink(csrf, Boolean(created))}`;
}

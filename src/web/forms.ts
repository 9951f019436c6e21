import { html } from './html.js';

/** A `<input type=hidden name=csrf>` for forms. */
export const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;

/**
 * A moment in plain text (Telegram notices and the bot's answers), where no browser shows it in the owner's zone: UTC,
 * to the minute, labelled, or a dash. Pages use `timeTag` (./time.ts) instead.
 */
export const when = (date: Date | string | null | undefined) =>
  date ? new Date(date).toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : '—';

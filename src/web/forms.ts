import { html } from './html.js';

/** A `<input type=hidden name=csrf>` for forms. */
export const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;

/** Dates as the owner reads them (UTC, to the minute), or a dash. */
export const when = (date: Date | string | null | undefined) =>
  date ? new Date(date).toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : '—';

import { html, type SafeHtml } from './html.js';

const FULL_UTC = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

/** "6 Dec 2026, 14:05 UTC": a moment without the browser's help, its zone said plainly. */
export const utcText = (date: Date): string => `${FULL_UTC.format(date)} UTC`;

export interface TimeOptions {
  /** What an absent moment reads as (default a dash). */
  empty?: string;
  /**
   * `relative` ("2 minutes ago", "yesterday", "in 7 days") for table cells and "Asked …"; `absolute` (the local date
   * and time) where a sentence reads on: "works until …", "created on …".
   */
  style?: 'relative' | 'absolute';
}

/**
 * A moment in a console or developer portal page: `<time datetime>` with the UTC time as its text, which /static/kit.js turns into the
 * browser's own words in its own time zone, with the full local time in its title (shown on hover). Without
 * JavaScript the owner reads the UTC time, labelled as such.
 */
export function timeTag(date: Date | string | null | undefined, { empty = '—', style = 'relative' }: TimeOptions = {}): SafeHtml {
  const d = date ? new Date(date) : undefined;
  if (!d || Number.isNaN(d.getTime())) return html`${empty}`;
  const text = utcText(d);
  return html`<time datetime="${d.toISOString()}" title="${text}" data-time="${style}">${text}</time>`;
}

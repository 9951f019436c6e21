import { html, type SafeHtml } from './html.js';

/**
 * A formatter made at its first use, not when the module loads: making one maps about 3 MB of Node's locale data into
 * memory, which a server answering only tokens and API calls never needs.
 */
const formatter = (options: Intl.DateTimeFormatOptions): (() => Intl.DateTimeFormat) => {
  let made: Intl.DateTimeFormat | undefined;
  return () => (made ??= new Intl.DateTimeFormat('en-GB', { ...options, timeZone: 'UTC' }));
};

const FULL_UTC = formatter({ dateStyle: 'medium', timeStyle: 'short' });

/** "6 Dec 2026, 14:05 UTC": a moment without the browser's help, its zone said plainly. */
export const utcText = (date: Date): string => `${FULL_UTC().format(date)} UTC`;

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

const DAY = formatter({ day: 'numeric', month: 'short', year: 'numeric' });
const isDay = (day: string) => /^\d{4}-\d{2}-\d{2}$/.test(day) && !Number.isNaN(Date.parse(`${day}T00:00:00Z`));

/**
 * A UTC calendar day (`YYYY-MM-DD`, as the access log's chart and the daily limits count days) in words, "6 Dec 2026";
 * anything else as it is. For text only (an SVG title, an aria-label); in HTML, `dayTag`.
 */
export const dayText = (day: string): string => (isDay(day) ? DAY().format(new Date(`${day}T00:00:00Z`)) : day);

/**
 * A UTC calendar day as `<time datetime>` with `dayText` as its text. It is a day, not a moment, so the browser leaves
 * it as it is; pages that show such days say they are UTC days.
 */
export function dayTag(day: string): SafeHtml {
  return isDay(day) ? html`<time datetime="${day}">${dayText(day)}</time>` : html`${day}`;
}

import { html, type SafeHtml } from '../../web/html.js';

/** Longer than any word an owner writes or reads in a table: a link, an id, a key. */
const LONG = 28;

/**
 * Text for a table cell in which only long tokens may break: each run of more than 28 characters without a space is
 * wrapped in `<span class="token-text">`, which console.css lets break anywhere. Ordinary words keep
 * `overflow-wrap: break-word` and so wrap whole; the token no longer forces its column wider than the page.
 */
export function breakable(text: string): SafeHtml {
  const parts = text.split(/(\S{29,})/);
  return html`${parts.map((part, i) => (i % 2 === 1 && part.length > LONG ? html`<span class="token-text">${part}</span>` : part))}`;
}

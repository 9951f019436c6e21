import { html, type SafeHtml } from './html.js';

/**
 * A "Copy" button for the read-only field `target` (a secret shown once). /static/kit.js shows it and does the
 * copying (no inline script: the pages' Content Security Policy); without JavaScript it stays hidden and the owner
 * selects the text. `what` names the secret for screen readers ("Copy token").
 */
export function copyButton(target: string, what: string): SafeHtml {
  return html`<span class="copy-row"><button type="button" class="button secondary compact copy-button" data-copy="${target}" hidden><span data-copy-label>Copy</span><span class="visually-hidden"> ${what}</span></button><span class="visually-hidden" aria-live="polite" data-copy-status></span></span>`;
}

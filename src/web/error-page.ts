import { html } from './html.js';
import { layout } from './layout.js';

export interface ErrorPageInput {
  title: string;
  message: string;
  /** Shown so the owner can quote it when reporting a problem; it matches the request's log lines. */
  requestId?: string;
}

/** A readable error page. Callers pass only exposable text: never a stack trace or an internal message (I5). */
export function errorPage({ title, message, requestId }: ErrorPageInput): string {
  const body = html`<section class="card" aria-labelledby="error-title">
  <h1 id="error-title">${title}</h1>
  <p>${message}</p>
  ${requestId && html`<p class="muted small">Request ID: <code>${requestId}</code></p>`}
  <p><a class="button secondary" href="/">Go to the home page</a></p>
</section>`;
  return layout({ title, body });
}

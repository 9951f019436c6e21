import { html, type SafeHtml } from '../../web/html.js';
import { layout } from '../../web/layout.js';
import type { ScopeDefinition } from '../../../scopes/catalog.js';
import type { ApiCallDoc } from '../../plugins/plugin.js';

export interface PlaygroundPageInput {
  issuer: string;
  resourceUrl: string;
  clientId: string;
  redirectUri: string;
  scopes: ScopeDefinition[];
  calls: ApiCallDoc[];
}

const ACCESS: Record<ScopeDefinition['access'], string> = { read: 'Read', write: 'Write', identity: 'Identity' };
/** Checked when the page opens: enough for an ID token and a refresh token. */
const DEFAULT_SCOPES = new Set(['openid', 'offline_access']);

/** One step: a numbered section with its explanation, its controls, and where its request and answer appear. */
const step = (
  id: string,
  title: string,
  body: SafeHtml,
  after?: SafeHtml,
) => html`<li><section class="pg-step" id="step-${id}" aria-labelledby="step-${id}-title">
<h2 id="step-${id}-title">${title}</h2>
${body}
<div class="pg-output" data-output="${id}"></div>
${after}
</section></li>`;

/**
 * /developers/playground: the steps of the authorization code flow, each with a button. All the protocol work runs
 * in src/web/public/playground.js (no inline script: the page's facts travel in data- attributes).
 */
export function playgroundPage(input: PlaygroundPageInput): string {
  const body = html`<div class="playground" id="playground" data-issuer="${input.issuer}" data-resource="${input.resourceUrl}"
  data-client-id="${input.clientId}" data-redirect-uri="${input.redirectUri}" data-calls="${JSON.stringify(input.calls)}">
<h1>OAuth playground</h1>
<p>Walk through one sign-in the way an app does it, with your own app or the playground's: authorization code with
PKCE, then the token, an API call, a refresh and a revocation. Every request this page sends and every answer it gets
are shown below. Everything runs in this browser tab; the tokens are yours, kept in this tab until you start over, and
listed in your console under Connected apps.</p>
<noscript><p class="notice notice-error">The playground needs JavaScript.</p></noscript>
<p class="pg-status" id="pg-status" role="status" aria-live="polite"></p>
<div class="pg-tabs" role="tablist" aria-label="Playground">
  <button type="button" class="pg-tab" role="tab" id="pg-tab-flow" aria-controls="pg-panel-flow" aria-selected="true">Sign-in flow</button>
  <button type="button" class="pg-tab" role="tab" id="pg-tab-skill" aria-controls="pg-panel-skill" aria-selected="false" tabindex="-1">Skill document</button>
</div>
<div class="pg-panel" role="tabpanel" id="pg-panel-flow" aria-labelledby="pg-tab-flow">
<ol class="pg-steps">
${step(
  'configure',
  '1. Configure',
  html`<form id="pg-configure" class="pg-form">
  <div class="field">
    <label for="pg-client-id">Client ID</label>
    <div class="pg-request-line">
      <input id="pg-client-id" class="pg-grow" name="client_id" type="text" required maxlength="200" value="${input.clientId}" autocomplete="off" spellcheck="false" aria-describedby="pg-client-id-hint">
      <button type="button" class="button secondary" id="pg-load-app">Load the app</button>
    </div>
    <span class="hint" id="pg-client-id-hint">Start with the playground's own public client, or enter your app's client
      ID from the developer portal and load it. Your app needs <code>${input.redirectUri}</code> among its redirect URIs.</span>
  </div>
  <div class="pg-app" id="pg-app" aria-live="polite"></div>
  <div class="field">
    <label for="pg-redirect-uri">Redirect URI</label>
    <input id="pg-redirect-uri" type="text" readonly value="${input.redirectUri}">
  </div>
  <fieldset class="pg-scopes">
    <legend>Scopes</legend>
    ${input.scopes.map(
      (s) => html`<div class="field field-check">
      <input id="pg-scope-${s.name}" type="checkbox" name="scope" value="${s.name}" data-kind="${s.kind}"${DEFAULT_SCOPES.has(s.name) ? html` checked` : ''}>
      <label for="pg-scope-${s.name}"><span class="badge badge-${s.access}">${ACCESS[s.access]}</span>
        <strong>${s.title}</strong> <code>${s.name}</code></label>
    </div>`,
    )}
    <p class="hint">Resource scopes add <code>resource=${input.resourceUrl}</code> (RFC 8707), so the access token is
      for the resource API. <code>offline_access</code> brings a refresh token.</p>
  </fieldset>
  <button type="submit" class="button primary" id="pg-prepare">Prepare the authorization request</button>
</form>`,
)}
${step(
  'authorize',
  '2. Authorize with PKCE',
  html`<p>The page makes a random <code>code_verifier</code> and its SHA-256
  <code>code_challenge</code> (RFC 7636), and a <code>state</code>, and keeps them in this tab. Then the browser goes to
  the authorization endpoint: sign in with your passkey and approve on the consent screen. You come back here with a code.</p>
<button type="button" class="button primary" id="pg-authorize" disabled>Open the authorization request</button>`,
)}
${step(
  'exchange',
  '3. Exchange the code',
  html`<p>The code is worth a token once, for one minute, and only with the
  verifier: the page posts both to the token endpoint.</p>
<div class="field" id="pg-secret-field" hidden>
  <label for="pg-client-secret">Client secret</label>
  <input id="pg-client-secret" type="password" autocomplete="off" spellcheck="false" aria-describedby="pg-client-secret-hint">
  <span class="hint" id="pg-client-secret-hint">Your app is confidential, so the token endpoint wants its secret. It stays
    in this page: it goes only to the token endpoint (in the Authorization header), is never stored, and is gone when you
    leave or reload the page. Use a secret you can rotate afterwards.</span>
</div>
<button type="button" class="button primary" id="pg-exchange" disabled>Exchange the code</button>`,
)}
${step(
  'call',
  '4. Call the API',
  html`<form id="pg-call" class="pg-form">
  <div class="field">
    <label for="pg-call-choice">Call</label>
    <select id="pg-call-choice"></select>
  </div>
  <div class="pg-request-line">
    <div class="field"><label for="pg-call-method">Method</label>
      <select id="pg-call-method">${['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => html`<option>${m}</option>`)}</select></div>
    <div class="field pg-grow"><label for="pg-call-url">URL</label>
      <input id="pg-call-url" type="text" required autocomplete="off" spellcheck="false"></div>
  </div>
  <div class="field">
    <label for="pg-call-body">JSON body</label>
    <textarea id="pg-call-body" spellcheck="false"></textarea>
    <span class="hint">Writes go through your limits for the playground (console, Connected apps).</span>
  </div>
  <button type="submit" class="button primary" id="pg-call-send" disabled>Send the request</button>
</form>`,
)}
${step(
  'refresh',
  '5. Refresh',
  html`<p>With <code>offline_access</code> the token answer held a refresh token. It
  rotates: each refresh returns a new one, and using an old one again revokes the grant.</p>
<button type="button" class="button primary" id="pg-refresh" disabled>Refresh the tokens</button>`,
)}
${step(
  'revoke',
  '6. Revoke',
  html`<div class="field">
  <label for="pg-revoke-which">Token to revoke</label>
  <select id="pg-revoke-which"><option value="access_token">Access token</option><option value="refresh_token">Refresh token</option></select>
  <span class="hint">Either one ends the whole grant (RFC 7009): every token of it stops working.</span>
</div>
<button type="button" class="button primary danger" id="pg-revoke" disabled>Revoke</button>`,
  html`<p>Then try the revoked access token on the API call of step 4.</p>
<button type="button" class="button secondary" id="pg-recheck" disabled>Call the API again with the revoked token</button>
<div class="pg-output" data-output="recheck"></div>`,
)}
</ol>
<p><button type="button" class="button secondary" id="pg-reset">Start over</button></p>
</div>
<div class="pg-panel" role="tabpanel" id="pg-panel-skill" aria-labelledby="pg-tab-skill" hidden>
<p>The app's skill document: one Markdown file that tells an AI agent how to use this app's access. It holds no
secret. Only the developer who registered the app sees it, signed in to the developer portal.</p>
<p class="pg-skill-status" id="pg-skill-status">Load your app in step 1 of the sign-in flow to see its skill document.</p>
<p><a id="pg-skill-download" class="button secondary compact" hidden download>Download the skill document</a></p>
<pre class="pg-http pg-skill" id="pg-skill" tabindex="0" hidden></pre>
</div>
</div>`;
  return layout({
    title: 'Playground',
    body,
    mainClass: 'site-main console-main',
    styles: ['/static/console.css', '/static/playground.css'],
    scripts: ['/static/playground.js'],
  });
}

import { html, httpsUrl } from '../../src/web/html.js';
import { layout } from '../../src/web/layout.js';
import { DISPLAY_NAME_MAX } from '../../src/accounts/display-name.js';

export interface LoginPageInput {
  uid: string;
  csrf: string;
  client: { name: string; redirectHost: string; logoUri?: string; device?: boolean };
  error?: string;
}

/**
 * The sign-in step of an authorization. The buttons are wired by /static/passkey.js, which reads the interaction
 * id and CSRF token from the container's data attributes and reports progress in #status. Creating an account sends
 * the optional name typed above its button along with the new passkey.
 */
export function loginPage({ uid, csrf, client, error }: LoginPageInput): string {
  const logo = httpsUrl(client.logoUri);
  const base = `/interaction/${encodeURIComponent(uid)}`;
  const status = error
    ? html`<p role="alert" id="status" class="status status-error">${error}</p>`
    : html`<p role="alert" id="status" class="status" hidden></p>`;

  const body = html`<section class="card" id="passkey-login" data-uid="${uid}" data-csrf="${csrf}" aria-labelledby="login-title">
  <div class="client">
    ${logo && html`<img class="client-logo" src="${logo}" alt="" width="48" height="48">`}
    <h1 id="login-title">${client.name} wants to use your oauth3 account</h1>
  </div>
  <p class="muted">${
    client.device
      ? html`It asks from a device. Sign in here to see what it asks for; the device gets access only if you approve.`
      : html`It will send you back to <strong class="host">${client.redirectHost}</strong>.`
  }</p>
  ${status}
  <div class="actions">
    <button type="button" class="button primary" data-ceremony="login">Sign in with a passkey</button>
  </div>
  <div class="signup">
    <h2>New to oauth3?</h2>
    <div class="field">
      <label for="display-name">Your name <span class="muted">(optional)</span></label>
      <input id="display-name" name="display_name" type="text" maxlength="${DISPLAY_NAME_MAX}" autocomplete="name" aria-describedby="display-name-hint">
      <p class="hint" id="display-name-hint">How oauth3 greets you, such as "Signed in as Ada". You can change it later.</p>
    </div>
    <button type="button" class="button secondary" data-ceremony="register">Create an account with a passkey</button>
  </div>
  <noscript><p class="status status-error">Passkeys need JavaScript to be enabled for this page.</p></noscript>
  <form method="post" action="${base}/abort" class="cancel">
    <input type="hidden" name="csrf" value="${csrf}">
    <button type="submit" class="button quiet">Cancel</button>
  </form>
</section>`;

  return layout({
    title: 'Sign in',
    body,
    scripts: ['/static/simplewebauthn-browser.umd.js', '/static/passkey.js'],
  });
}

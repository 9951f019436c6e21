import { html } from '../../web/html.js';
import { timeTag } from '../../web/time.js';

export interface AccountView {
  createdAt: Date;
  passkeys: number;
  sessions: number;
}

/**
 * /console/account: what deleting the account does, in plain words, and the button that does it. /static/console.js
 * asks for a passkey to confirm, calls the JSON API, then leaves for the home page.
 */
export function accountBody({ createdAt, passkeys, sessions }: AccountView) {
  return html`<h1>Account</h1>
<p>Your account was created on ${timeTag(createdAt, { style: 'absolute' })}.</p>
<section aria-labelledby="delete-title" id="delete-account" data-console-ceremony="delete-account">
<h2 id="delete-title">Delete your account</h2>
<p>Deleting your account cannot be undone. At once:</p>
<ul>
  <li>every app and agent you connected loses access: each grant and token is revoked;</li>
  <li>${sessions > 1 ? `all ${sessions} signed-in browsers are signed out, this one included` : 'this browser is signed out'};</li>
  <li>${
    passkeys > 1
      ? `your ${passkeys} passkeys are deleted here and no longer sign in (your devices may still list them: remove them there)`
      : 'your passkey is deleted here and no longer signs in (your device may still list it: remove it there)'
  };</li>
  <li>your stored credentials, profile and access log are deleted.</li>
</ul>
<p>To confirm, you will be asked for one of your passkeys.</p>
<div class="field field-check">
  <input type="checkbox" id="delete-confirm" data-console-confirm>
  <label for="delete-confirm">I understand that my account and everything connected to it will be deleted for good.</label>
</div>
<p class="status" role="alert" data-console-status hidden></p>
<button type="button" class="button primary compact danger" data-console-start disabled>Delete my account</button>
<noscript><p class="status status-error">Confirming with a passkey needs JavaScript to be enabled for this page.</p></noscript>
</section>`;
}

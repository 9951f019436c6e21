import { html, httpsUrl, raw } from '../../src/web/html.js';
import { layout } from '../../src/web/layout.js';

/**
 * The device authorization pages (RFC 8628 §3.3): enter the code a device shows, confirm it, and the outcome. The
 * forms post to oidc-provider's verification endpoint with its own `xsrf` field; nothing here runs script.
 */

export interface DeviceInputPageInput {
  action: string;
  /** oidc-provider's anti-CSRF value for this browser session (the `xsrf` field of the form it hands us). */
  xsrf: string;
  /** What the owner typed, shown again after a mistake. */
  code?: string;
  error?: string;
}

export function deviceInputPage({ action, xsrf, code, error }: DeviceInputPageInput): string {
  const status = error
    ? html`<p role="alert" id="status" class="status status-error">${error}</p>`
    : html`<p class="muted">Enter the code your device, CLI or agent shows you.</p>`;
  const body = html`<section class="card" aria-labelledby="device-title">
  <h1 id="device-title">Connect a device</h1>
  ${status}
  <form method="post" action="${action}" class="device-code-form">
    <input type="hidden" name="xsrf" value="${xsrf}">
    <div class="field">
      <label for="user-code">Code</label>
      <input id="user-code" class="user-code-input" type="text" name="user_code" value="${code ?? ''}" placeholder="BCDF-GHJK"
        autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="32" required autofocus>
    </div>
    <div class="actions">
      <button type="submit" class="button primary">Continue</button>
    </div>
  </form>
</section>`;
  return layout({ title: 'Connect a device', body });
}

export interface DeviceConfirmPageInput {
  /** oidc-provider's confirmation form (hidden fields only, id `op.deviceConfirmForm`); the buttons submit it. */
  form: string;
  client: { name: string; clientId: string; logoUri?: string };
  userCode: string;
  /** Where the device asked from, as oidc-provider recorded it at the device authorization endpoint. */
  device: { ip?: string; ua?: string };
}

/**
 * The owner compares the code and is warned about remote phishing (RFC 8628 §5.4): someone who sends a link with
 * their own code gets tokens for the account of whoever approves it.
 */
export function deviceConfirmPage({ form, client, userCode, device }: DeviceConfirmPageInput): string {
  const logo = httpsUrl(client.logoUri);
  const body = html`<section class="card" aria-labelledby="device-confirm-title">
  <div class="client">
    ${logo && html`<img class="client-logo" src="${logo}" alt="" width="48" height="48">`}
    <h1 id="device-confirm-title">Connect ${client.name} on a device?</h1>
  </div>
  <p>Check that your device shows this code:</p>
  <p class="user-code" aria-label="Code ${userCode.split('').join(' ')}"><code>${userCode}</code></p>
  <p role="alert" class="status status-error"><strong>Only continue if you started this on your own device.</strong>
    If someone sent you this link or code, stop here: continuing would give them access to your accounts.</p>
  <p class="muted small">Client ID <code>${client.clientId}</code>${device.ip ? html` · requested from <code>${device.ip}</code>` : ''}${device.ua ? html` · <span class="device-agent">${device.ua}</span>` : ''}</p>
  ${raw(form)}
  <div class="actions">
    <button type="submit" class="button primary" form="op.deviceConfirmForm">Continue</button>
    <button type="submit" class="button secondary" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button>
  </div>
</section>`;
  return layout({ title: 'Confirm the device', body });
}

export interface DeviceDonePageInput {
  outcome: 'approved' | 'denied';
  clientName?: string;
}

/** The end of the owner's part: the device learns the outcome on its next poll (RFC 8628 §3.5). */
export function deviceDonePage({ outcome, clientName }: DeviceDonePageInput): string {
  const who = clientName ?? 'The device';
  const body =
    outcome === 'approved'
      ? html`<section class="card" aria-labelledby="device-done-title">
  <h1 id="device-done-title">Device connected</h1>
  <p>${who} now has the access you approved. You can close this page and go back to your device.</p>
  <p class="muted">You can revoke this access at any time from your <a href="/console">oauth3 console</a>.</p>
</section>`
      : html`<section class="card" aria-labelledby="device-done-title">
  <h1 id="device-done-title">Request cancelled</h1>
  <p>The device was not connected and gets no access. You can close this page.</p>
  <p><a class="button secondary" href="/device">Enter another code</a></p>
</section>`;
  return layout({ title: outcome === 'approved' ? 'Device connected' : 'Request cancelled', body });
}

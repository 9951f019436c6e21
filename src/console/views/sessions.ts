import { html } from '../../web/html.js';
import { displayAddress } from '../../http/client-address.js';
import { timeTag } from '../../web/time.js';
import type { BrowserSession } from '../browser-sessions.js';
import { deviceName } from '../../web/device.js';
import { csrfField } from '../../web/forms.js';

/** /console/sessions: every signed-in browser, a sign-out button for each other one, and "sign out everywhere else". */
export function sessionsBody(sessions: BrowserSession[], currentUid: string, csrf: string) {
  const others = sessions.filter((s) => s.uid !== currentUid);
  const rows = sessions.map((s) => {
    const device = deviceName(s.userAgent);
    const current = s.uid === currentUid;
    return html`<tr>
  <td data-label="Device"><strong>${device}</strong>${current ? html` <span class="badge badge-read">This browser</span>` : ''}</td>
  <td data-label="IP address"><span class="address">${displayAddress(s.ip) ?? '—'}</span></td>
  <td data-label="Signed in">${timeTag(s.createdAt)}</td>
  <td data-label="Last seen">${timeTag(s.lastSeenAt)}</td>
  <td data-label="Actions"><div class="row-actions">
    ${
      current
        ? html`<span class="hint">Use “Sign out” at the top to end this one.</span>`
        : html`<form method="post" action="/console/sessions/${s.uid}/sign-out" class="inline-form">
      ${csrfField(csrf)}
      <button type="submit" class="button secondary compact">Sign out<span class="visually-hidden"> ${device}, last seen ${timeTag(s.lastSeenAt)}</span></button>
    </form>`
    }
  </div></td>
</tr>`;
  });

  return html`<h1>Sessions</h1>
<p>Every browser signed in to your oauth3 account. If you do not recognise one, sign it out and remove any passkey you do not recognise.</p>
<section aria-labelledby="sessions-title">
<h2 id="sessions-title">Signed-in browsers</h2>
${
  sessions.length
    ? html`<table class="table">
<thead><tr><th scope="col">Device</th><th scope="col">IP address</th><th scope="col">Signed in</th><th scope="col">Last seen</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
    : html`<p class="empty">No signed-in browsers are recorded.</p>`
}
</section>
${
  others.length
    ? html`<section aria-labelledby="others-title">
<h2 id="others-title">Sign out everywhere else</h2>
<p>Ends ${others.length === 1 ? 'the other session' : html`all ${others.length} other sessions`}. This browser stays signed in.</p>
<form method="post" action="/console/sessions/sign-out-others">
  ${csrfField(csrf)}
  <button type="submit" class="button primary compact">Sign out everywhere else</button>
</form>
</section>`
    : ''
}`;
}

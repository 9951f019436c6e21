import { html } from '../../web/html.js';
import { timeTag } from '../../web/time.js';
import type { Passkey } from '../../accounts/accounts.js';
import { csrfField } from '../../web/forms.js';

/** How a passkey is kept, in the owner's words (WebAuthn §6.1.3: backup eligibility and backup state). */
export function passkeyKind(passkey: Pick<Passkey, 'deviceType' | 'backedUp'>): string {
  if (passkey.backedUp) return 'Synced';
  return passkey.deviceType === 'multiDevice' ? 'Can sync, not backed up yet' : 'This device only';
}

/**
 * /console/passkeys: the table (a card per passkey on a phone), a rename form and a remove button per row, and
 * "Add a passkey", which /static/console.js runs against the JSON API.
 */
export function passkeysBody(passkeys: Passkey[], csrf: string) {
  const only = passkeys.length <= 1;
  const rows = passkeys.map(
    (p, i) => html`<tr>
  <td data-label="Name"><strong>${p.name}</strong></td>
  <td data-label="Kind"><span class="badge ${p.backedUp ? 'badge-read' : 'badge-identity'}">${passkeyKind(p)}</span></td>
  <td data-label="Added">${timeTag(p.createdAt)}</td>
  <td data-label="Last used">${timeTag(p.lastUsedAt, { empty: 'Never' })}</td>
  <td data-label="Actions"><div class="row-actions">
    <form method="post" action="/console/passkeys/${p.id}/rename" class="inline-form">
      ${csrfField(csrf)}
      <label class="visually-hidden" for="passkey-name-${i}">New name for ${p.name}</label>
      <input id="passkey-name-${i}" name="name" value="${p.name}" required maxlength="60" autocomplete="off">
      <button type="submit" class="button secondary compact">Rename</button>
    </form>
    <form method="post" action="/console/passkeys/${p.id}/remove" class="inline-form">
      ${csrfField(csrf)}
      <button type="submit" class="button secondary compact danger"${only ? html` disabled aria-describedby="last-passkey"` : ''}>Remove<span class="visually-hidden"> ${p.name}</span></button>
    </form>
  </div></td>
</tr>`,
  );

  return html`<h1>Passkeys</h1>
<p>Passkeys are how you sign in to oauth3. Keep at least two, on different devices, so losing one does not lock you out.</p>
<section aria-labelledby="passkeys-title">
<h2 id="passkeys-title">Your passkeys</h2>
<table class="table">
<thead><tr><th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Added</th><th scope="col">Last used</th><th scope="col">Actions</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
${only ? html`<p id="last-passkey" class="hint">This is your only passkey, so it cannot be removed. Add another one first.</p>` : ''}
</section>
<section aria-labelledby="add-title" id="add-passkey" data-console-ceremony="add-passkey">
<h2 id="add-title">Add a passkey</h2>
<p>Your browser will ask where to save the new passkey: this device, a phone, or a security key. If you signed in more than a few minutes ago, you will be asked to sign in again first.</p>
<div class="field">
  <label for="new-passkey-name">Name (optional)</label>
  <input id="new-passkey-name" name="name" maxlength="60" autocomplete="off" aria-describedby="new-passkey-hint">
  <span id="new-passkey-hint" class="hint">For example "Work laptop" or "Phone". You can rename it later.</span>
</div>
<p class="status" role="alert" data-console-status hidden></p>
<button type="button" class="button primary compact" data-console-start>Add a passkey</button>
<noscript><p class="status status-error">Adding a passkey needs JavaScript to be enabled for this page.</p></noscript>
</section>`;
}

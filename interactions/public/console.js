// Console ceremonies that need a passkey (src/console/views/passkeys.ts and account.ts): adding a passkey and
// confirming account deletion. Loaded as a module after the @simplewebauthn/browser UMD bundle (global
// SimpleWebAuthnBrowser). No inline script: the CSRF token comes from `.console[data-csrf]`, and each ceremony's
// section carries data-console-ceremony with its start button, status line and inputs inside.

const CANCELLED = 'Passkey request was cancelled.';
const UNREACHABLE = 'Could not reach oauth3. Check your connection and try again.';

/** An error the server described in `{ error, error_description }`; its text is meant for the owner. */
class ServerError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

const webauthn = globalThis.SimpleWebAuthnBrowser;
const csrf = document.querySelector('.console[data-csrf]')?.dataset.csrf ?? '';

const ceremonies = {
  'add-passkey': {
    async run(section) {
      const name = section.querySelector('input[name="name"]')?.value.trim();
      const optionsJSON = await post('/console/api/passkeys/options', {});
      const credential = await webauthn.startRegistration({ optionsJSON });
      await post('/console/api/passkeys', name ? { credential, name } : { credential });
      location.assign('/console/passkeys?done=added');
    },
  },
  'delete-account': {
    async run() {
      const optionsJSON = await post('/console/api/account/delete/options', {});
      const credential = await webauthn.startAuthentication({ optionsJSON });
      const { deleted } = await post('/console/api/account/delete', credential);
      if (deleted !== true) throw new ServerError('Unexpected answer from oauth3. Please try again.');
      location.assign('/');
    },
  },
};

for (const section of document.querySelectorAll('[data-console-ceremony]')) wire(section);

function wire(section) {
  const ceremony = ceremonies[section.dataset.consoleCeremony];
  const start = section.querySelector('[data-console-start]');
  const status = section.querySelector('[data-console-status]');
  const confirm = section.querySelector('[data-console-confirm]');
  if (!ceremony || !start || !status) return;

  if (!webauthn || !webauthn.browserSupportsWebAuthn()) {
    show(status, 'This browser does not support passkeys. Try an up-to-date browser or another device.');
    start.disabled = true;
    return;
  }

  // A destructive action waits for its "I understand" box.
  const ready = () => !confirm || confirm.checked;
  start.disabled = !ready();
  confirm?.addEventListener('change', () => {
    start.disabled = !ready();
  });

  start.addEventListener('click', async () => {
    if (!ready()) return;
    start.disabled = true;
    section.setAttribute('aria-busy', 'true');
    show(status, '');
    try {
      await ceremony.run(section);
      // The page is navigating away; the button stays disabled.
    } catch (error) {
      // A sign-in that is no longer recent (SECURITY.md E7): check the passkey again, then come back here.
      if (error instanceof ServerError && error.code === 'recent_sign_in_required') {
        location.assign(`/console/login?fresh=1&return=${encodeURIComponent(location.pathname)}`);
        return;
      }
      show(status, messageFor(error));
      start.disabled = !ready();
      section.setAttribute('aria-busy', 'false');
    }
  });
}

async function post(url, body) {
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, accept: 'application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    throw new ServerError(UNREACHABLE);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ServerError(data?.error_description || `oauth3 could not complete the request (HTTP ${response.status}).`, data?.error);
  }
  if (data === null) throw new ServerError('Unexpected answer from oauth3. Please try again.');
  return data;
}

function messageFor(error) {
  if (error instanceof ServerError) return error.message;
  // Dismissed or timed out: WebAuthn §5.1.3 and §5.1.4 report both as NotAllowedError.
  if (error?.name === 'NotAllowedError' || error?.cause?.name === 'NotAllowedError') return CANCELLED;
  if (error?.code === 'ERROR_CEREMONY_ABORTED') return CANCELLED;
  // The authenticator already holds a passkey for this account (excludeCredentials, §6.3.2 step 3).
  if (error?.name === 'InvalidStateError' || error?.code === 'ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED') {
    return 'This device already has a passkey for your account. Use another device or security key.';
  }
  return error?.message ? `Passkey error: ${error.message}` : 'Something went wrong with the passkey. Please try again.';
}

function show(status, message) {
  // textContent, never innerHTML: server messages are shown as text.
  status.textContent = message;
  status.hidden = message === '';
  status.classList.toggle('status-error', message !== '');
}

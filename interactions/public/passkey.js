// Wires the passkey buttons of the login page (interactions/views/login.ts). Loaded as a module after the
// @simplewebauthn/browser UMD bundle, which defines the global SimpleWebAuthnBrowser. No inline script is
// needed: the interaction id and CSRF token come from the container's data attributes.

const CANCELLED = 'Passkey request was cancelled.';
const UNREACHABLE = 'Could not reach oauth3. Check your connection and try again.';

/** An error the server described in `{ error, error_description }`; its text is meant for the owner. */
class ServerError extends Error {}

const root = document.getElementById('passkey-login');
if (root) wire(root);

function wire(root) {
  const { uid, csrf } = root.dataset;
  const base = `/interaction/${encodeURIComponent(uid)}/passkey`;
  const status = document.getElementById('status');
  const buttons = Array.from(root.querySelectorAll('button[data-ceremony]'));
  const webauthn = globalThis.SimpleWebAuthnBrowser;

  // Each ceremony: fetch options, let the browser talk to the authenticator, send the result back.
  const ceremonies = {
    login: (optionsJSON) => webauthn.startAuthentication({ optionsJSON }),
    register: (optionsJSON) => webauthn.startRegistration({ optionsJSON }),
  };

  if (!webauthn || !webauthn.browserSupportsWebAuthn()) {
    show('This browser does not support passkeys. Try an up-to-date browser or another device.');
    setBusy(true);
    return;
  }

  for (const button of buttons) {
    button.addEventListener('click', () => run(button.dataset.ceremony));
  }

  async function run(kind) {
    setBusy(true);
    show('');
    try {
      const optionsJSON = await post(`${base}/${kind}/options`, {});
      const credential = await ceremonies[kind](optionsJSON);
      const { redirectTo } = await post(`${base}/${kind}`, credential);
      if (typeof redirectTo !== 'string') throw new ServerError('Unexpected answer from oauth3. Please try again.');
      // Buttons stay disabled while the browser navigates away.
      location.assign(redirectTo);
    } catch (error) {
      show(messageFor(error));
      setBusy(false);
    }
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
      throw new ServerError(data?.error_description || `oauth3 could not complete the request (HTTP ${response.status}).`);
    }
    if (data === null) throw new ServerError('Unexpected answer from oauth3. Please try again.');
    return data;
  }

  function messageFor(error) {
    if (error instanceof ServerError) return error.message;
    // The owner dismissed the browser prompt or it timed out: WebAuthn §5.1.3 and §5.1.4 report both as NotAllowedError.
    if (error?.name === 'NotAllowedError' || error?.cause?.name === 'NotAllowedError') return CANCELLED;
    if (error?.code === 'ERROR_CEREMONY_ABORTED') return CANCELLED;
    return error?.message ? `Passkey error: ${error.message}` : 'Something went wrong with the passkey. Please try again.';
  }

  function show(message) {
    // textContent, never innerHTML: server messages are shown as text.
    status.textContent = message;
    status.hidden = message === '';
    status.classList.toggle('status-error', message !== '');
  }

  function setBusy(busy) {
    root.setAttribute('aria-busy', String(busy));
    for (const button of buttons) button.disabled = busy;
  }
}

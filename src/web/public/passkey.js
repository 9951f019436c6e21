// Wires the passkey buttons of the login page (interactions/views/login.ts). Loaded as a module after the
// @simplewebauthn/browser UMD bundle, which defines the global SimpleWebAuthnBrowser. No inline script is
// needed: the interaction id and CSRF token come from the container's data attributes.

import { messageFor, postJson, showStatus, unexpectedAnswer } from './api.js';

const root = document.getElementById('passkey-login');
if (root) wire(root);

function wire(root) {
  const { uid, csrf } = root.dataset;
  const base = `/interaction/${encodeURIComponent(uid)}/passkey`;
  const status = document.getElementById('status');
  const buttons = Array.from(root.querySelectorAll('button[data-ceremony]'));
  const webauthn = globalThis.SimpleWebAuthnBrowser;
  const post = (url, body) => postJson(url, body, csrf);
  const show = (message) => showStatus(status, message);

  // Each ceremony: fetch options, let the browser talk to the authenticator, send the result back.
  const ceremonies = {
    login: (optionsJSON) => webauthn.startAuthentication({ optionsJSON }),
    register: (optionsJSON) => webauthn.startRegistration({ optionsJSON }),
  };
  // A new account carries the optional name typed beside its button (the server trims and checks it).
  const extras = {
    login: () => ({}),
    register: () => {
      const name = root.querySelector('input[name="display_name"]')?.value.trim();
      return name ? { display_name: name } : {};
    },
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
      // The name goes with the options too: the passkey manager lists the new passkey under it.
      const optionsJSON = await post(`${base}/${kind}/options`, extras[kind]());
      const credential = await ceremonies[kind](optionsJSON);
      const { redirectTo } = await post(`${base}/${kind}`, { ...credential, ...extras[kind]() });
      if (typeof redirectTo !== 'string') throw unexpectedAnswer();
      // Buttons stay disabled while the browser navigates away.
      location.assign(redirectTo);
    } catch (error) {
      show(messageFor(error));
      setBusy(false);
    }
  }

  function setBusy(busy) {
    root.setAttribute('aria-busy', String(busy));
    for (const button of buttons) button.disabled = busy;
  }
}

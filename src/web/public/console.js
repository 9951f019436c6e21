// Every console page loads this (and through it ./kit.js: local, relative times and the Copy buttons). The navigation's
// menus (src/console/views/layout.ts) are <details> elements that work without it; here one open menu closes the
// others, and Escape or a click elsewhere closes it.
//
// Console ceremonies that need a passkey (src/console/views/passkeys.ts and account.ts): adding a passkey and
// confirming account deletion. Loaded as a module after the @simplewebauthn/browser UMD bundle (global
// SimpleWebAuthnBrowser). No inline script: the CSRF token comes from `.console[data-csrf]`, and each ceremony's
// section carries data-console-ceremony with its start button, status line and inputs inside.

import { ServerError, messageFor, postJson, showStatus, unexpectedAnswer } from './api.js';
import './kit.js';

const webauthn = globalThis.SimpleWebAuthnBrowser;
const csrf = document.querySelector('.console[data-csrf]')?.dataset.csrf ?? '';
const post = (url, body) => postJson(url, body, csrf);

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
      if (deleted !== true) throw unexpectedAnswer();
      location.assign('/?done=deleted');
    },
  },
};

for (const section of document.querySelectorAll('[data-console-ceremony]')) wire(section);
wireMenus(Array.from(document.querySelectorAll('details[data-nav-menu]')));

function wireMenus(menus) {
  const closeAll = (except) => {
    for (const menu of menus) if (menu !== except) menu.open = false;
  };
  for (const menu of menus) {
    menu.addEventListener('toggle', () => {
      if (menu.open) closeAll(menu);
    });
  }
  document.addEventListener('click', (event) => {
    if (!menus.some((menu) => menu.contains(event.target))) closeAll();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    const open = menus.find((menu) => menu.open);
    if (!open) return;
    open.open = false;
    open.querySelector('summary')?.focus();
  });
}

function wire(section) {
  const ceremony = ceremonies[section.dataset.consoleCeremony];
  const start = section.querySelector('[data-console-start]');
  const status = section.querySelector('[data-console-status]');
  const confirm = section.querySelector('[data-console-confirm]');
  if (!ceremony || !start || !status) return;

  if (!webauthn || !webauthn.browserSupportsWebAuthn()) {
    showStatus(status, 'This browser does not support passkeys. Try an up-to-date browser or another device.');
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
    showStatus(status, '');
    try {
      await ceremony.run(section);
      // The page is navigating away; the button stays disabled.
    } catch (error) {
      // A sign-in that is no longer recent (threat model E7): check the passkey again, then come back here.
      if (error instanceof ServerError && error.code === 'recent_sign_in_required') {
        location.assign(`/console/login?fresh=1&return=${encodeURIComponent(location.pathname)}`);
        return;
      }
      showStatus(status, messageFor(error));
      start.disabled = !ready();
      section.setAttribute('aria-busy', 'false');
    }
  });
}

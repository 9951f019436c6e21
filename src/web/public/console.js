// Every console page loads this. It makes times local and relative, and wires the Copy buttons. The navigation's menus (src/console/views/layout.ts) are <details> elements that
// work without it; here one open menu closes the others, and Escape or a click elsewhere closes it.
//
// Console ceremonies that need a passkey (src/console/views/passkeys.ts and account.ts): adding a passkey and
// confirming account deletion. Loaded as a module after the @simplewebauthn/browser UMD bundle (global
// SimpleWebAuthnBrowser). No inline script: the CSRF token comes from `.console[data-csrf]`, and each ceremony's
// section carries data-console-ceremony with its start button, status line and inputs inside.

import { ServerError, messageFor, postJson, showStatus, unexpectedAnswer } from './api.js';

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
wireTimes(Array.from(document.querySelectorAll('time[data-time][datetime]')));
for (const button of document.querySelectorAll('button[data-copy]')) wireCopy(button);

// Times (src/console/views/time.ts): the server writes UTC; here each reads in the browser's own language and zone,
// "2 minutes ago" or "yesterday" (or the local date and time inside a sentence), with the full local time on hover.
function wireTimes(times) {
  if (!times.length || typeof Intl.RelativeTimeFormat !== 'function') return;
  const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });
  const local = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  const day = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
  const startOfDay = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();

  const words = (date, now) => {
    const seconds = Math.round((date.getTime() - now.getTime()) / 1000);
    const abs = Math.abs(seconds);
    if (abs < 45) return relative.format(0, 'second');
    if (abs < 45 * 60) return relative.format(Math.round(seconds / 60), 'minute');
    if (abs < 20 * 3600) return relative.format(Math.round(seconds / 3600), 'hour');
    // Whole calendar days in the owner's zone, so last night at 23:00 is "yesterday".
    const days = Math.round((startOfDay(date) - startOfDay(now)) / 86_400_000);
    if (Math.abs(days) < 7) return relative.format(days, 'day');
    return day.format(date);
  };

  const render = () => {
    const now = new Date();
    for (const time of times) {
      const date = new Date(time.getAttribute('datetime'));
      if (Number.isNaN(date.getTime())) continue;
      time.textContent = time.dataset.time === 'absolute' ? local.format(date) : words(date, now);
      time.title = full.format(date);
    }
  };
  render();
  setInterval(render, 30_000);
}

// "Copy" beside a secret shown once (src/console/views/copy.ts): the button is hidden until this runs, copies the
// field it names, and says "Copied" on itself and to screen readers.
function wireCopy(button) {
  const field = document.getElementById(button.dataset.copy);
  const label = button.querySelector('[data-copy-label]');
  const status = button.parentElement?.querySelector('[data-copy-status]');
  if (!field || !label) return;
  button.hidden = false;
  let timer;
  button.addEventListener('click', async () => {
    let copied = false;
    try {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    } catch {
      // Without the asynchronous clipboard (an insecure origin, say): select the text and copy the old way.
      field.select();
      copied = document.execCommand('copy');
    }
    label.textContent = copied ? 'Copied' : 'Select and copy';
    if (status) status.textContent = copied ? 'Copied to the clipboard.' : 'Could not copy: select the text and copy it.';
    clearTimeout(timer);
    timer = setTimeout(() => {
      label.textContent = 'Copy';
      if (status) status.textContent = '';
    }, 4000);
  });
}

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

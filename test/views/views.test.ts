import { describe, it, expect } from '@jest/globals';
import { html, raw, escapeHtml } from '../../src/web/html.js';
import { loginPage } from '../../interactions/views/login.js';
import { consentPage, type ConsentPageInput } from '../../interactions/views/consent.js';
import { errorPage } from '../../src/web/error-page.js';
import { homePage } from '../../src/web/home-page.js';
import { kindLabel } from '../../src/accounts/event-kinds.js';

const SCRIPT_PAYLOAD = '<script>alert(1)</script>';
const ATTR_PAYLOAD = '"><img src=x onerror=alert(1)>';

const client = { name: 'Acme Agent', redirectHost: 'app.example.com', clientId: 'acme-123' };

function login(overrides: Partial<Parameters<typeof loginPage>[0]> = {}): string {
  return loginPage({ uid: 'uid-1', csrf: 'csrf-token-1', client, ...overrides });
}

function consent(overrides: Partial<ConsentPageInput> = {}): string {
  return consentPage({
    uid: 'uid-1',
    csrf: 'csrf-token-1',
    client,
    scopes: [
      { name: 'openid', title: 'Know who you are', description: 'Your oauth3 account id', access: 'identity' },
      { name: 'twitter:read', title: 'Read your posts', description: 'Timeline and profile', access: 'read' },
      { name: 'twitter:write', title: 'Post for you', description: 'Publish and delete posts', access: 'write' },
    ],
    account: { label: 'alice@example.com' },
    lifetime: 'until you revoke it (refreshable for 14 days)',
    ...overrides,
  });
}

/** Every start tag as { name, attributes } — escaped text can never open a tag, so a regex over `<…>` suffices. */
function tags(page: string): Array<{ name: string; attributes: Map<string, string> }> {
  const found = [];
  for (const [, name = '', rest = ''] of page.matchAll(/<([a-zA-Z][\w-]*)([^>]*)>/g)) {
    const attributes = new Map<string, string>();
    for (const [, attr = '', dq, sq, bare] of rest.matchAll(/([^\s"'=<>`/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
      attributes.set(attr.toLowerCase(), dq ?? sq ?? bare ?? '');
    }
    found.push({ name: name.toLowerCase(), attributes });
  }
  return found;
}

const allPages = (): Array<[string, string]> => [
  ['login', login()],
  ['login with error', login({ error: 'That passkey is not known here.' })],
  ['consent', consent()],
  ['error', errorPage({ title: 'Something went wrong', message: 'Please try again.', requestId: 'req-1' })],
  ['home', homePage({ issuer: 'https://oauth3.example' })],
];

describe('html helper', () => {
  it('escapes every interpolated string, including quotes and backticks', () => {
    expect(html`<p title="${`"'\`<&>`}">x</p>`.value).toBe('<p title="&quot;&#39;&#96;&lt;&amp;&gt;">x</p>');
    expect(escapeHtml(SCRIPT_PAYLOAD)).toBe('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('inserts SafeHtml and arrays of SafeHtml as markup, and renders nothing for false, null and undefined', () => {
    const items = ['a', '<b>'].map((item) => html`<li>${item}</li>`);
    expect(html`<ul>${items}</ul>${raw('<hr>')}${false}${null}${undefined}`.value).toBe('<ul><li>a</li><li>&lt;b&gt;</li></ul><hr>');
  });
});

describe('client-supplied strings are rendered inert (threat model D6)', () => {
  const hostile = { name: SCRIPT_PAYLOAD + ATTR_PAYLOAD, redirectHost: ATTR_PAYLOAD + SCRIPT_PAYLOAD };
  const pages: Array<[string, string]> = [
    ['login', login({ client: { ...client, ...hostile }, error: SCRIPT_PAYLOAD })],
    [
      'consent',
      consent({
        client: { ...client, ...hostile, clientId: ATTR_PAYLOAD },
        account: { label: SCRIPT_PAYLOAD },
        scopes: [{ name: ATTR_PAYLOAD, title: SCRIPT_PAYLOAD, description: SCRIPT_PAYLOAD + ATTR_PAYLOAD, access: 'read' }],
      }),
    ],
  ];

  it.each(pages)('%s page shows the markup only escaped', (_, page) => {
    expect(page).not.toContain(SCRIPT_PAYLOAD);
    expect(page).not.toContain('<img src=x');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(page).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(tags(page).filter((tag) => tag.name === 'img')).toHaveLength(0);
  });
});

describe('client logos are shown only over https', () => {
  const refused = ['http://cdn.example.com/logo.png', 'javascript:alert(1)', 'data:image/png;base64,iVBORw0KGgo=', 'not a url'];

  it.each(refused)('does not render %s as an image', (logoUri) => {
    for (const page of [login({ client: { ...client, logoUri } }), consent({ client: { ...client, logoUri } })]) {
      expect(tags(page).some((tag) => tag.name === 'img')).toBe(false);
      expect(page).not.toContain('javascript:');
    }
  });

  it('renders an https logo', () => {
    const logoUri = 'https://cdn.example.com/logo.png?size=96&v=2';
    for (const page of [login({ client: { ...client, logoUri } }), consent({ client: { ...client, logoUri } })]) {
      const images = tags(page).filter((tag) => tag.name === 'img');
      expect(images).toHaveLength(1);
      expect(images[0]?.attributes.get('src')).toBe('https://cdn.example.com/logo.png?size=96&amp;v=2');
    }
  });
});

describe('pages work under a strict CSP (threat model D3)', () => {
  it.each(allPages())('%s page has no inline script, style or event handler', (_, page) => {
    const all = tags(page);
    for (const script of all.filter((tag) => tag.name === 'script')) expect(script.attributes.get('src')).toBeTruthy();
    expect(all.some((tag) => tag.name === 'style')).toBe(false);
    for (const tag of all) {
      const names = [...tag.attributes.keys()];
      expect(names).not.toContain('style');
      expect(names.filter((name) => /^on/.test(name))).toEqual([]);
      expect(tag.attributes.get('href') ?? '').not.toMatch(/^\s*javascript:/i);
    }
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(page).toContain('<link rel="stylesheet" href="/static/style.css">');
    expect(page).toContain('<main');
  });
});

describe('login page', () => {
  it('names the client and the host it returns to, and offers both passkey ceremonies', () => {
    const page = login();
    expect(page).toContain('Acme Agent wants to use your oauth3 account');
    expect(page).toContain('It will send you back to <strong class="host">app.example.com</strong>');
    expect(page).toContain('Sign in with a passkey');
    expect(page).toContain('Create an account with a passkey');
    expect(page).toMatch(/<p role="alert" id="status"[^>]*hidden><\/p>/);
  });

  it('hands the interaction id and CSRF token to the script through data attributes', () => {
    const container = tags(login()).find((tag) => tag.attributes.has('data-uid'));
    expect(container?.attributes.get('data-uid')).toBe('uid-1');
    expect(container?.attributes.get('data-csrf')).toBe('csrf-token-1');
  });

  it('loads the WebAuthn bundle as a classic script and passkey.js as a module', () => {
    const scripts = tags(login()).filter((tag) => tag.name === 'script');
    expect(scripts.map((tag) => [tag.attributes.get('src'), tag.attributes.get('type')])).toEqual([
      ['/static/simplewebauthn-browser.umd.js', undefined],
      ['/static/passkey.js', 'module'],
    ]);
  });

  it('cancels through a POST carrying the CSRF token', () => {
    const page = login();
    expect(page).toMatch(
      /<form method="post" action="\/interaction\/uid-1\/abort"[^>]*>\s*<input type="hidden" name="csrf" value="csrf-token-1">/,
    );
    expect(page).toContain('>Cancel</button>');
  });

  it('shows a server-side error in the status element', () => {
    expect(login({ error: 'Try again.' })).toMatch(/<p role="alert" id="status"[^>]*>Try again\.<\/p>/);
  });
});

describe('consent page', () => {
  it('says who is asking, for what, for how long and how to undo it', () => {
    const page = consent();
    expect(page).toContain('Acme Agent wants access to your oauth3 account');
    expect(page).toContain('app.example.com');
    expect(page).toContain('will send you back to');
    for (const title of ['Know who you are', 'Read your posts', 'Post for you']) expect(page).toContain(title);
    for (const badge of ['Identity', 'Read', 'Write']) expect(page).toMatch(new RegExp(`<span class="badge[^"]*">${badge}</span>`));
    expect(page).toContain('<code class="scope-name">twitter:write</code>');
    expect(page).toContain('until you revoke it (refreshable for 14 days)');
    expect(page).toContain('You can revoke this access at any time from your oauth3 console.');
    expect(page).toContain('Signed in as <strong>alice@example.com</strong>');
  });

  it('posts each decision in its own form carrying the CSRF token', () => {
    const forms = consent().split('<form').slice(1);
    expect(forms).toHaveLength(2);
    for (const [form, decision, label] of [
      [forms[0] ?? '', 'approve', 'Allow'],
      [forms[1] ?? '', 'deny', 'Deny'],
    ] as const) {
      expect(form).toContain('method="post" action="/interaction/uid-1/consent"');
      expect(form).toContain('<input type="hidden" name="csrf" value="csrf-token-1">');
      expect(form).toContain(`<input type="hidden" name="decision" value="${decision}">`);
      expect(form).toContain(`>${label}</button>`);
    }
  });
});

describe('error and home pages', () => {
  it('error page shows the message, the request id and a link home', () => {
    const page = errorPage({ title: 'Not found', message: 'This sign-in link has expired.', requestId: 'req-42' });
    expect(page).toContain('This sign-in link has expired.');
    expect(page).toContain('req-42');
    expect(page).toContain('href="/"');
  });

  it('home page links to discovery, the console, the developer portal and the playground', () => {
    const page = homePage({ issuer: 'https://oauth3.example' });
    for (const href of ['/.well-known/openid-configuration', '/console', '/developers', '/developers/playground'])
      expect(page).toContain(`href="${href}"`);
  });
});

describe('access-log event labels', () => {
  it("names the developer portal's and agent services' events in the owner's words, and falls back for unknown kinds", () => {
    expect(kindLabel('agent.secret_rotated')).toBe('Agent service secret replaced');
    expect(kindLabel('developer.secret.revoked', 'security')).toBe('Every app secret revoked (developer portal)');
    expect(kindLabel('developer.app.created')).toBe('App registered (developer portal)');
    expect(kindLabel('something.new_here')).toBe('Something new here');
  });
});

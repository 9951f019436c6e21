import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner } from '../helpers/owner.js';
import { redirectUri } from '../helpers/token-flow.js';

/** The `<div class="field…">` of the input whose id is `id`, up to its closing tag, as the page sends it. */
function fieldOf(page: string, id: string): string {
  const at = page.indexOf(`id="${id}"`);
  expect(at).toBeGreaterThan(-1);
  const start = page.lastIndexOf('<div class="field', at);
  const end = page.indexOf('</div>', at);
  return page.slice(start, end);
}

/** The ids an element's aria-describedby names, and the text of each. */
function describedBy(page: string, id: string): string[] {
  const tag = new RegExp(`<(?:input|textarea|fieldset)[^>]*id="${id}"[^>]*>`).exec(page)![0];
  const ids = /aria-describedby="([^"]*)"/.exec(tag)?.[1]?.split(' ').filter(Boolean) ?? [];
  return ids.map((ref) => {
    const element = new RegExp(`<(p|span)[^>]*id="${ref}"[^>]*>([\\s\\S]*?)</\\1>`).exec(page);
    expect(element).not.toBeNull();
    return element![2]!
      .replace(/<[^>]+>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
  });
}

/**
 * The developer portal's register and edit forms: every problem the server finds is shown beside its field, in plain
 * words (the label, never the wire name), read with the field (aria-describedby), listed at the top with a link to
 * each field, and the form keeps what was typed.
 */
describe('the developer portal form', () => {
  let server: TestServer;
  let dev: Owner;
  const form = (path: string, fields: Record<string, string>) => dev.browser.postForm(path, { csrf: dev.csrf, ...fields });

  beforeAll(async () => {
    server = await startTestServer();
    dev = await Owner.signUp(server);
  });
  afterAll(() => server?.stop());

  it('shows every problem beside its field, in plain words, and keeps what was typed', async () => {
    const res = await form('/developers/apps', {
      kind: 'web',
      name: '',
      description: 'Posts my notes',
      homepage: 'http://example.com',
      logo_uri: 'not a url',
      redirect_uris: 'https://ok.example.com/cb\njavascript:alert(1)\nhttp://evil.example/cb',
      'scope:openid': 'on',
      'scope:no.such.scope': 'on',
    });
    expect(res.status).toBe(400);
    const page = await res.text();

    expect(describedBy(page, 'app-name')).toEqual(['Owners see it on the consent screen.', 'Is required']);
    expect(describedBy(page, 'app-homepage')).toEqual(['An https URL (optional).', 'Must be an https URL']);
    expect(describedBy(page, 'app-logo_uri')[1]).toBe('Must be an https URL');
    const redirects = describedBy(page, 'app-redirect_uris')[1]!;
    expect(redirects).toContain('Line 2: javascript:alert(1) must be');
    expect(redirects).toContain('Line 3: http://evil.example/cb must be https');
    expect(describedBy(page, 'app-scopes')).toEqual(['The scope no.such.scope is not one this server knows']);
    for (const id of ['app-name', 'app-homepage', 'app-logo_uri', 'app-redirect_uris']) {
      expect(fieldOf(page, id)).toContain('aria-invalid="true"');
    }
    // The description had no problem: not marked, and only its hint describes it.
    expect(describedBy(page, 'app-description')).toEqual(['What the app does, in a sentence or two.']);
    expect(fieldOf(page, 'app-description')).not.toContain('aria-invalid');

    // The summary at the top counts them and links each to its field, by its label.
    expect(page).toContain('The app was not saved: 6 problems to fix.');
    expect(page).toContain('<a href="#app-name">Name: is required</a>');
    expect(page).toContain('<a href="#app-homepage">Home page: must be an https URL</a>');
    expect(page).toContain('<a href="#app-scopes">Scopes: the scope no.such.scope is not one this server knows</a>');
    for (const wire of ['redirect_uris.', 'logo_uri:', 'homepage:', 'name:']) expect(page).not.toContain(wire);

    // What was typed comes back.
    expect(page).toContain('value="http://example.com"');
    expect(page).toContain('value="not a url"');
    expect(page).toContain('>Posts my notes</textarea>');
    expect(page).toContain('https://ok.example.com/cb\njavascript:alert(1)\nhttp://evil.example/cb</textarea>');
    expect(page).toMatch(/<input id="scope-openid" type="checkbox" name="scope:openid" value="on" checked>/);
    expect(page).toMatch(/<input id="kind-web" type="radio" name="kind" value="web" checked>/);
    expect((await (await dev.api.get('/developers/api/apps')).json()) as unknown).toEqual({ apps: [] });
  });

  it('names what the kind of app rules out beside the field it concerns', async () => {
    const agent = await (
      await form('/developers/apps', { kind: 'agent', name: 'Agent', redirect_uris: redirectUri, 'scope:openid': 'on' })
    ).text();
    expect(describedBy(agent, 'app-redirect_uris')[1]).toBe(
      'An agent service signs in with the device flow or client credentials: leave this empty',
    );
    const web = await (await form('/developers/apps', { kind: 'web', name: 'Web', redirect_uris: '', 'scope:openid': 'on' })).text();
    expect(describedBy(web, 'app-redirect_uris')[1]).toBe('An app that signs owners in needs at least one redirect URI');
    const pub = await (
      await form('/developers/apps', {
        kind: 'public',
        name: 'SPA',
        redirect_uris: redirectUri,
        token_exchange: 'on',
        'scope:openid': 'on',
      })
    ).text();
    expect(describedBy(pub, 'app-token_exchange')[1]).toBe('A public app has no secret, so it cannot exchange tokens');
    const none = await (await form('/developers/apps', { kind: 'web', name: 'No scopes', redirect_uris: redirectUri })).text();
    expect(describedBy(none, 'app-scopes')).toEqual(['Pick at least one scope']);
  });

  it('does the same on the edit form, which keeps the app as it was', async () => {
    const created = await form('/developers/apps', { kind: 'web', name: 'Editable', redirect_uris: redirectUri, 'scope:openid': 'on' });
    expect(created.status).toBe(303);
    const clientId = /^\/developers\/apps\/(c_[A-Za-z0-9_-]+)\?done=registered$/.exec(created.headers.get('location')!)![1]!;
    const res = await form(`/developers/apps/${clientId}`, { name: 'x'.repeat(101), redirect_uris: 'ftp://files.example/cb' });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(describedBy(page, 'app-name')[1]).toBe('Must be at most 100 characters');
    expect(describedBy(page, 'app-redirect_uris')[1]).toMatch(/^Line 1: ftp:\/\/files\.example\/cb must be/);
    expect(describedBy(page, 'app-scopes')).toEqual(['Pick at least one scope']);
    expect(page).toContain(`value="${'x'.repeat(101)}"`);
    expect(page).toContain(`action="/developers/apps/${clientId}"`);
    const stored = (await (await dev.api.get(`/developers/api/apps/${clientId}`)).json()) as { name: string };
    expect(stored.name).toBe('Editable');
  });
});

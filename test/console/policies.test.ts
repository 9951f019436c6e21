import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';
import { csrfFrom, uidFrom } from '../helpers/browser.js';
import { redirectUri, type Client } from '../helpers/token-flow.js';

interface PolicyJson {
  posts_per_day: number | null;
  blocked_words: string[];
  blocked_patterns: string[];
  no_links: boolean;
  no_mentions: boolean;
  hold_for_approval: boolean;
  delegate_to: string[];
}

const NO_LIMITS: PolicyJson = {
  posts_per_day: null,
  blocked_words: [],
  blocked_patterns: [],
  no_links: false,
  no_mentions: false,
  hold_for_approval: false,
  delegate_to: [],
};

/**
 * Limits per app, as the owner sets them: in the console for any app or agent that can write, and
 * on the consent page when an app asks to write. Only the owner of a grant reads or changes its limits.
 */
describe.each(backends())('limits per app on %s storage', (backend) => {
  let server: TestServer;
  let client: Client;
  let owner: Owner;
  let stranger: Owner;
  let grantId: string;

  const policyOf = async (id: string, who = owner) => {
    const res = await who.api.get(`/console/api/apps/${id}/policy`);
    expect(res.status).toBe(200);
    return ((await res.json()) as { policy: PolicyJson }).policy;
  };
  const put = (id: string, body: unknown, who = owner, options: { csrf?: string | null; origin?: string } = {}) =>
    who.api.send('PUT', `/console/api/apps/${id}/policy`, body, options);
  const grantOf = async (who: Owner, clientId: string) =>
    ((await (await who.api.get('/console/api/apps')).json()) as { apps: { grant_id: string; client_id: string }[] }).apps.find(
      (a) => a.client_id === clientId,
    )?.grant_id;

  /** Authorization request → consent page in the owner's (signed-in) browser; returns the page and where to post. */
  async function consentPage(who: Owner, scope: string) {
    const verifier = randomBytes(32).toString('base64url');
    const query = new URLSearchParams({
      client_id: client.clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope,
      state: 'xyz',
      prompt: 'consent',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const step = await who.browser.navigate(`/auth?${query}`);
    expect(step.url).toContain('/interaction/');
    const page = await step.response.text();
    return { page, uid: uidFrom(step.url), csrf: csrfFrom(page) };
  }

  beforeAll(async () => {
    server = await startTestServer({ backend });
    client = await server.addClient({ name: 'Posting app', redirectUris: [redirectUri] });
    owner = await Owner.signUp(server);
    stranger = await Owner.signUp(server);
    await owner.appToken(client, 'openid tweet.post');
    grantId = (await grantOf(owner, client.clientId))!;
  });
  afterAll(() => server?.stop());

  it('starts with no limits, and stores the limits the owner sets', async () => {
    expect(await policyOf(grantId)).toEqual(NO_LIMITS);
    const limits = {
      posts_per_day: 5,
      blocked_words: ['crypto', 'free money'],
      blocked_patterns: ['^gm\\b'],
      no_links: true,
      no_mentions: false,
      hold_for_approval: true,
      delegate_to: [],
    };
    const res = await put(grantId, limits);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ grant_id: grantId, policy: limits });
    expect(await policyOf(grantId)).toEqual(limits);

    const { apps } = (await (await owner.api.get('/console/api/apps')).json()) as { apps: { grant_id: string; policy: PolicyJson }[] };
    expect(apps.find((a) => a.grant_id === grantId)!.policy).toEqual(limits);
    const page = await (await owner.browser.request('/console/apps')).text();
    expect(page).toContain('5 posts a day · 2 blocked words · 1 blocked pattern · no links · held for your approval');
    expect(page).toContain(`action="/console/apps/${grantId}/policy"`);
    expect(page).toMatch(/<textarea id="limits-[^"]+-blocked_words" name="blocked_words"[^>]*>crypto\nfree money<\/textarea>/);

    // PUT replaces: what is left out goes back to its default.
    await put(grantId, { posts_per_day: 7 });
    expect(await policyOf(grantId)).toEqual({ ...NO_LIMITS, posts_per_day: 7 });
  });

  it('refuses an invalid regular expression with 400 naming the line and the pattern, and keeps the limits', async () => {
    const before = await policyOf(grantId);
    const res = await put(grantId, { blocked_patterns: ['^ok$', '(unclosed'] });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: 'invalid_policy',
      error_description: 'Blocked patterns, line 2 (“(unclosed”): must be a valid regular expression',
    });
    expect(await policyOf(grantId)).toEqual(before);
  });

  it.each([
    ['a negative daily limit', { posts_per_day: -1 }],
    ['a daily limit that is not a number', { posts_per_day: 'ten' }],
    ['a fractional daily limit', { posts_per_day: 2.5 }],
    ['a misspelt field', { post_per_day: 3 }],
    ['blocked words that are not a list', { blocked_words: 'spam' }],
    ['a flag that is not a boolean', { no_links: 'yes' }],
    ['a body that is not an object', ['no_links']],
  ])('refuses %s with 400 and changes nothing', async (_label, body) => {
    const before = await policyOf(grantId);
    const res = await put(grantId, body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_policy', error_description: expect.any(String) });
    expect(await policyOf(grantId)).toEqual(before);
  });

  it('saves limits from the page form, and shows a problem in that form with what was typed', async () => {
    const saved = await owner.browser.postForm(`/console/apps/${grantId}/policy`, {
      csrf: owner.csrf,
      posts_per_day: '3',
      blocked_words: 'spam\r\n\r\n  scam  ',
      blocked_patterns: '',
      no_mentions: 'on',
    });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toBe('/console/apps?done=limits-saved');
    expect(await policyOf(grantId)).toEqual({ ...NO_LIMITS, posts_per_day: 3, blocked_words: ['spam', 'scam'], no_mentions: true });

    const refused = await owner.browser.postForm(`/console/apps/${grantId}/policy`, {
      csrf: owner.csrf,
      posts_per_day: '',
      blocked_words: '',
      blocked_patterns: '[a-',
      hold_for_approval: 'on',
    });
    expect(refused.status).toBe(400);
    const page = await refused.text();
    expect(page).toContain('role="alert">Blocked patterns, line 1 (“[a-”): must be a valid regular expression</p>');
    expect(page).toContain(`<details class="policy" id="limits-${grantId}" open>`);
    expect(page).toMatch(/name="blocked_patterns"[^>]*>\[a-<\/textarea>/);
    expect(page).toMatch(/name="hold_for_approval" value="on"[^>]* checked/);
    expect(await policyOf(grantId)).toEqual({ ...NO_LIMITS, posts_per_day: 3, blocked_words: ['spam', 'scam'], no_mentions: true });
  });

  it("answers another owner's grant with 404, shows nothing of it and changes nothing", async () => {
    const before = await policyOf(grantId);
    const read = await stranger.api.get(`/console/api/apps/${grantId}/policy`);
    expect(read.status).toBe(404);
    expect(await read.text()).not.toContain('spam');
    expect((await put(grantId, { hold_for_approval: true }, stranger)).status).toBe(404);
    expect(
      (await stranger.browser.postForm(`/console/apps/${grantId}/policy`, { csrf: stranger.csrf, hold_for_approval: 'on' })).status,
    ).toBe(404);
    expect((await owner.api.get('/console/api/apps/nosuchgrant/policy')).status).toBe(404);
    expect((await owner.api.get(`/console/api/apps/${'g'.repeat(500)}/policy`)).status).toBe(404);
    expect(await policyOf(grantId)).toEqual(before);
  });

  it('requires the CSRF token and our own origin to change limits', async () => {
    const before = await policyOf(grantId);
    expect((await put(grantId, { no_links: true }, owner, { csrf: null })).status).toBe(403);
    expect((await put(grantId, { no_links: true }, owner, { csrf: stranger.csrf })).status).toBe(403);
    expect((await put(grantId, { no_links: true }, owner, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await owner.browser.postForm(`/console/apps/${grantId}/policy`, { no_links: 'on' })).status).toBe(403);
    expect((await fetch(`${server.url}/console/api/apps/${grantId}/policy`)).status).toBe(401);
    expect(await policyOf(grantId)).toEqual(before);
  });

  it("offers limits on the consent page when the app asks to write, and saves them as the grant's policy", async () => {
    const other = await Owner.signUp(server);
    const readOnly = await consentPage(other, 'openid tweet.read');
    expect(readOnly.page).not.toContain('Limits (optional)');

    const { page, uid, csrf } = await consentPage(other, 'openid tweet.post');
    expect(page).toContain('<details class="limits">');
    expect(page).toContain('form="consent-approve"');
    expect(page).toMatch(/<form method="post" action="\/interaction\/[^"]+\/consent" id="consent-approve">/);

    // A typo is refused before the decision is taken, so the owner can go back and fix it.
    const typo = await other.browser.postForm(`/interaction/${uid}/consent`, { csrf, decision: 'approve', limit_posts_per_day: 'ten' });
    expect(typo.status).toBe(400);
    expect(await typo.text()).toContain('Posts per day');

    const res = await other.browser.postForm(`/interaction/${uid}/consent`, {
      csrf,
      decision: 'approve',
      limit_posts_per_day: '4',
      limit_hold_for_approval: 'on',
      limit_no_links: '',
    });
    expect(res.status).toBe(303);
    await other.browser.navigate(res.headers.get('location')!);
    const granted = (await grantOf(other, client.clientId))!;
    expect(await policyOf(granted, other)).toEqual({ ...NO_LIMITS, posts_per_day: 4, hold_for_approval: true });
  });

  it('stores no policy when the owner leaves the limits empty at consent, and removes it when the app is revoked', async () => {
    const other = await Owner.signUp(server);
    const { uid, csrf } = await consentPage(other, 'openid tweet.post');
    const res = await other.browser.postForm(`/interaction/${uid}/consent`, { csrf, decision: 'approve', limit_posts_per_day: '' });
    expect(res.status).toBe(303);
    await other.browser.navigate(res.headers.get('location')!);
    const granted = (await grantOf(other, client.clientId))!;
    const stored = async () => (await server.db.query('SELECT grant_id FROM grant_policies WHERE grant_id = $1', [granted])).rows.length;
    expect(await stored()).toBe(0);

    await put(granted, { posts_per_day: 1 }, other);
    expect(await stored()).toBe(1);
    expect((await other.api.send('DELETE', `/console/api/apps/${granted}`)).status).toBe(200);
    expect(await stored()).toBe(0);
  });

  it("sets limits for the owner's own agent tokens too, linked from the Tokens page", async () => {
    await owner.agentToken(['tweet.post']);
    const { apps } = (await (await owner.api.get('/console/api/apps')).json()) as { apps: { grant_id: string; kind: string }[] };
    const agentGrant = apps.find((a) => a.kind === 'agent')!.grant_id;
    expect(await (await owner.browser.request('/console/tokens')).text()).toContain(
      `href="/console/apps?limits=${agentGrant}#limits-${agentGrant}"`,
    );
    expect((await put(agentGrant, { posts_per_day: 2 })).status).toBe(200);
    expect(await policyOf(agentGrant)).toEqual({ ...NO_LIMITS, posts_per_day: 2 });
    const page = await (await owner.browser.request(`/console/apps?limits=${agentGrant}`)).text();
    expect(page).toContain(`<details class="policy" id="limits-${agentGrant}" open>`);
  });

  it('records each change of limits in the access log with the app', async () => {
    const { rows } = await server.db.query<{ client_id: string; grant_id: string; detail: { policy: PolicyJson } }>(
      `SELECT client_id, grant_id, detail FROM events WHERE account_id = $1 AND kind = 'policy.updated' AND grant_id = $2 ORDER BY id`,
      [owner.accountId, grantId],
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.every((r) => r.client_id === client.clientId)).toBe(true);
    expect(rows.at(-1)!.detail.policy).toMatchObject({ posts_per_day: 3, blocked_words: ['spam', 'scam'] });
  });
});

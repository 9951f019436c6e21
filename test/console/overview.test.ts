import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner } from '../helpers/owner.js';

/**
 * /console as a dashboard: what has access and what needs the owner, each from the owner's own rows only, with the
 * "all clear" line when nothing does.
 */
describe('console overview', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  const overview = async (owner: Owner) => {
    const res = await owner.browser.request('/console');
    expect(res.status).toBe(200);
    return res.text();
  };

  it('says nothing needs attention for a new owner, and shows this sign-up as the last sign-in', async () => {
    const owner = await Owner.signIn(server);
    const page = await overview(owner);
    expect(page).toContain('Nothing needs your attention.');
    expect(page).toContain('No app or agent has access yet.');
    expect(page).toContain('when you created the account');
    expect(page).not.toContain('class="tiles"');
  });

  it('counts apps and agents, names the newest three, and lists what needs attention', async () => {
    const owner = await Owner.signIn(server);
    const bystander = await Owner.signIn(server);
    for (const name of ['First', 'Second', 'Third', 'Fourth']) {
      const res = await owner.api.send('POST', '/console/api/tokens', { name, scopes: ['tweet.read'] });
      expect(res.status).toBe(201);
    }
    const seal = 'not-a-real-seal';
    await server.db.query(
      `INSERT INTO connections (id, account_id, provider, kind, label, status, sealed, last_error)
       VALUES ('con_overview_x', $1, 'x', 'x.cookie', '@ada', 'needs_relink', $2, 'cookie expired'),
              ('con_overview_t', $1, 'telegram', 'telegram.bot', 'Ada bot', 'active', $2, NULL)`,
      [owner.accountId, seal],
    );
    await server.db.query(
      `INSERT INTO events (account_id, client_id, kind, outcome, detail) VALUES
         ($1, NULL, 'token.reused', 'security', '{"grant_type":"refresh_token"}'),
         ($1, NULL, 'token.reused', 'security', '{"grant_type":"refresh_token"}'),
         ($2, NULL, 'passkey.counter_regression', 'security', '{}')`,
      [owner.accountId, bystander.accountId],
    );
    await server.db.query(
      `UPDATE events SET created_at = now() - interval '30 days' WHERE id = (SELECT min(id) FROM events WHERE account_id = $1 AND kind = 'token.reused')`,
      [owner.accountId],
    );
    await server.db.query(
      `INSERT INTO telegram_outbox (account_id, chat_id, kind, text, status, attempts, last_error)
       VALUES ($1, 42, 'new_access', 'An app got access', 'failed', 6, 'Forbidden: bot was blocked by the user')`,
      [owner.accountId],
    );

    const page = await overview(owner);
    expect(page).toContain('Needs your attention');
    expect(page).not.toContain('Nothing needs your attention.');
    // One possible theft in the last fortnight (the older one stays in the access log), and not the bystander's warning.
    expect(page.match(/possible theft/g)).toHaveLength(1);
    expect(page).toContain('A refresh token of an app was used twice');
    expect(page).not.toContain('Passkey counter went backwards');
    expect(page).toMatch(/Your X account <strong>@ada<\/strong> needs linking again/);
    expect(page).toContain('1 Telegram message could not be delivered to you.');
    // Four agents (made within the same second, so which three are newest is a tie): the count, three by name, a link.
    expect(page).toMatch(/<strong>4<\/strong> have access to your account/);
    expect(page.match(/Your agent: (First|Second|Third|Fourth)/g)).toHaveLength(3);
    expect(page).toContain('See all 4');
    expect(page).toMatch(/<strong>2<\/strong> connected/);
    expect(page).toContain('Needs re-link');

    const calm = await overview(bystander);
    expect(calm).toContain('Passkey counter went backwards');
    expect(calm).not.toContain('@ada');
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import type { PolicyInput } from '../../src/policies/policy.js';
import { runApproved } from '../../src/plugins/run-approved.js';
import { echoPlugin, startEchoUpstream } from './echo-plugin.js';

/**
 * Policies per grant, enforced by the resource server for any plugin's action: content rules with
 * stable codes, a daily limit that concurrency cannot exceed, and "hold for my approval".
 */
describe.each(backends())('policies on %s storage', (backend) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let owner: Owner;

  /** A fresh agent token (its own grant) with this policy set on its grant. */
  async function tokenWith(policy: PolicyInput): Promise<{ token: string; grantId: string }> {
    const token = await owner.agentToken(['echo.read', 'echo.post']);
    const { rows } = await server.db.query<{ grant_id: string }>(
      'SELECT grant_id FROM agent_tokens WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT 1',
      [owner.accountId],
    );
    const grantId = rows[0]!.grant_id;
    await server.app.services.policies.set(owner.accountId, grantId, policy);
    return { token, grantId };
  }
  const post = (token: string, text: string) => callApi(server, '/echo/posts', token, { body: { text } });
  const postsWith = (text: string) => upstream.received.filter((r) => r.path === '/posts' && (r.body as { text: string }).text === text);

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({ backend, plugins: [echoPlugin(() => upstream.url)] });
    owner = await Owner.signUp(server);
    await server.app.connections.save(owner.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo',
      secret: { key: 'policy-secret-key-5678' },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  it('runs an action with no policy and answers 201 with its result', async () => {
    const { token } = await tokenWith({});
    const res = await post(token, 'hello world');
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(String), text: 'hello world' });
    expect(postsWith('hello world')).toEqual([expect.objectContaining({ key: 'policy-secret-key-5678' })]);
  });

  it.each<[string, PolicyInput, string[], string[]]>([
    [
      'policy_blocked_word',
      { blocked_words: ['secret plan', 'spam'] },
      ['our SECRET   plan is out', 'Spam!', 'ｓｐａｍ in full width'],
      ['spammer at work', 'secretplan', 'plans are secret'],
    ],
    ['policy_blocked_pattern', { blocked_patterns: ['buy\\s+now', '^\\d{4}$'] }, ['BUY   now please', '1234'], ['buying nowhere', '12345']],
    [
      'policy_no_links',
      { no_links: true },
      ['read https://example.org/x', 'go to www.example.org', 'see example.com today', 'docs at sub.example.co.uk/path'],
      ['e.g. this is fine', 'version 3.14 shipped', 'no link here.'],
    ],
    [
      'policy_no_mentions',
      { no_mentions: true },
      ['hi @alice', '@bob_99: thanks', '(@carol)'],
      ['mail me at me@example.com', 'price @ 5 dollars', 'no mentions'],
    ],
  ])('refuses with 403 %s, and lets other texts through', async (code, policy, refused, allowed) => {
    const { token } = await tokenWith(policy);
    for (const text of refused) {
      const res = await post(token, text);
      expect({ text, status: res.status, error: res.body.error }).toEqual({ text, status: 403, error: code });
      expect(postsWith(text)).toHaveLength(0);
    }
    for (const text of allowed) {
      const res = await post(token, text);
      expect({ text, status: res.status }).toEqual({ text, status: 201 });
    }
  });

  it('never lets 20 concurrent calls exceed the daily limit', async () => {
    const { token, grantId } = await tokenWith({ posts_per_day: 5 });
    const text = `limited ${grantId}`;
    const results = await Promise.all(Array.from({ length: 20 }, () => post(token, text)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(results.filter((r) => r.status === 403).map((r) => r.body.error)).toEqual(Array(15).fill('policy_daily_limit'));
    expect(postsWith(text)).toHaveLength(5);
    expect(await server.app.services.policies.usedToday(grantId)).toBe(5);
  });

  it('gives the slot back when the upstream call fails', async () => {
    const { token, grantId } = await tokenWith({ posts_per_day: 1 });
    upstream.state.fail = true;
    try {
      expect((await post(token, 'will fail')).status).toBe(502);
    } finally {
      upstream.state.fail = false;
    }
    expect(await server.app.services.policies.usedToday(grantId)).toBe(0);
    expect((await post(token, 'will work')).status).toBe(201);
    expect((await post(token, 'one too many')).body.error).toBe('policy_daily_limit');
  });

  it('refuses every post with a limit of 0', async () => {
    const { token } = await tokenWith({ posts_per_day: 0 });
    expect((await post(token, 'nothing today')).body.error).toBe('policy_daily_limit');
  });

  it('holds posts for approval with 202, sends nothing, and sends the post once the owner approves it', async () => {
    const { token, grantId } = await tokenWith({ hold_for_approval: true, blocked_words: ['forbidden'], posts_per_day: 3 });
    const res = await post(token, 'please approve me');
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'pending_approval', id: expect.stringMatching(/^held_/) });
    expect(postsWith('please approve me')).toHaveLength(0);
    const pending = await server.app.services.held.list(owner.accountId, 'pending');
    const held = pending.find((h) => h.id === res.body.id)!;
    expect(held).toMatchObject({ grantId, action: 'echo.post', summary: 'please approve me', payload: { text: 'please approve me' } });

    // Content rules still refuse first: a post that could never go out is not held.
    expect((await post(token, 'a forbidden thing')).body.error).toBe('policy_blocked_word');

    const decided = await server.app.services.held.decide(owner.accountId, held.id, 'approved');
    expect(await runApproved(server.app.services, decided!)).toEqual({ id: expect.any(String), text: 'please approve me' });
    expect(postsWith('please approve me')).toHaveLength(1);
    expect(await server.app.services.policies.usedToday(grantId)).toBe(1);
  });

  it('writes one api.call row per call with app, scope, route, status and latency, never the token or body', async () => {
    const { token, grantId } = await tokenWith({ blocked_words: ['nope'] });
    expect((await post(token, 'logged post')).status).toBe(201);
    expect((await post(token, 'nope nope')).status).toBe(403);
    expect((await callApi(server, '/echo/items/42', token)).status).toBe(200);
    const { rows } = await server.db.query<{ client_id: string; outcome: string; detail: Record<string, unknown> }>(
      `SELECT client_id, outcome, detail FROM events WHERE kind = 'api.call' AND grant_id = $1 ORDER BY id`,
      [grantId],
    );
    expect(rows).toEqual([
      {
        client_id: 'oauth3-agents',
        outcome: 'ok',
        detail: { scope: 'echo.post', method: 'POST', path: '/api/echo/posts', status: 201, latency_ms: expect.any(Number) },
      },
      {
        client_id: 'oauth3-agents',
        outcome: 'failure',
        detail: {
          scope: 'echo.post',
          method: 'POST',
          path: '/api/echo/posts',
          status: 403,
          latency_ms: expect.any(Number),
          error: 'policy_blocked_word',
        },
      },
      {
        client_id: 'oauth3-agents',
        outcome: 'ok',
        detail: { scope: 'echo.read', method: 'GET', path: '/api/echo/items/:id', status: 200, latency_ms: expect.any(Number) },
      },
    ]);
    const all = JSON.stringify((await server.db.query(`SELECT * FROM events WHERE kind = 'api.call'`)).rows);
    expect(all).not.toContain(token);
    expect(all).not.toContain('logged post');
  });

  it('writes nothing to any owner log for calls without a valid token', async () => {
    const before = (await server.db.query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE kind = 'api.call'`)).rows[0]!.n;
    await callApi(server, '/echo/posts', undefined, { body: { text: 'anonymous' } });
    await callApi(server, '/echo/posts', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', { body: { text: 'anonymous' } });
    const after = (await server.db.query<{ n: string }>(`SELECT count(*) AS n FROM events WHERE kind = 'api.call'`)).rows[0]!.n;
    expect(after).toBe(before);
  });

  it('answers not_connected when the owner has no connection for the action, without using up the day', async () => {
    const stranger = await Owner.signUp(server);
    const token = await stranger.agentToken(['echo.post']);
    const res = await callApi(server, '/echo/posts', token, { body: { text: 'no connection' } });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('not_connected');
  });

  it('never logs the upstream credential', () => {
    expect(server.logs.join('')).not.toContain('policy-secret-key-5678');
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config.js';
import { deleteExpiredRows } from '../../src/db/cleanup.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';

const TOKEN = '123456789:AAH_abcdefghijklmnopqrstuvwxyz0123456';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig({ NODE_ENV: 'test', ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('the Telegram bot settings', () => {
  it('runs no bot unless a token is set, and polls unless a webhook URL is', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).TELEGRAM_BOT_TOKEN).toBeUndefined();
    const polling = loadConfig({ NODE_ENV: 'test', TELEGRAM_BOT_TOKEN: TOKEN });
    expect([polling.TELEGRAM_BOT_TOKEN, polling.TELEGRAM_WEBHOOK_URL]).toEqual([TOKEN, undefined]);
    const hook = loadConfig({ NODE_ENV: 'test', TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_WEBHOOK_URL: 'https://a.example/telegram/webhook' });
    expect(hook.TELEGRAM_WEBHOOK_URL).toBe('https://a.example/telegram/webhook');
  });

  it('refuses a malformed token without repeating it, an http webhook, and a webhook without a bot', () => {
    const bad = problemsOf({ TELEGRAM_BOT_TOKEN: 'AAH_not-a-token-but-secret-looking-0123456789' });
    expect(bad).toEqual([expect.stringMatching(/^TELEGRAM_BOT_TOKEN: .*@BotFather/)]);
    expect(bad.join('')).not.toContain('secret-looking');
    expect(problemsOf({ TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_WEBHOOK_URL: 'http://a.example/telegram/webhook' })).toEqual([
      expect.stringMatching(/^TELEGRAM_WEBHOOK_URL: /),
    ]);
    expect(problemsOf({ TELEGRAM_WEBHOOK_URL: 'https://a.example/telegram/webhook' })).toEqual([
      expect.stringContaining('TELEGRAM_WEBHOOK_URL: needs TELEGRAM_BOT_TOKEN'),
    ]);
  });
});

describe.each(backends().slice(0, 2))('the cleanup of Telegram rows (%s)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('deletes expired update claims and link nonces, and keeps live ones', async () => {
    const owner = await Owner.signUp(server);
    const { db } = server;
    await db.query(
      "INSERT INTO telegram_updates (update_id, expires_at) VALUES (1, now() - interval '1 minute'), (2, now() + interval '1 hour')",
    );
    await db.query(
      `INSERT INTO telegram_link_nonces (digest, account_id, expires_at)
       VALUES ('old', $1, now() - interval '1 minute'), ('live', $1, now() + interval '5 minutes')`,
      [owner.accountId],
    );
    await deleteExpiredRows(db);
    expect((await db.query<{ update_id: string }>('SELECT update_id::text FROM telegram_updates')).rows).toEqual([{ update_id: '2' }]);
    expect((await db.query('SELECT digest FROM telegram_link_nonces')).rows).toEqual([{ digest: 'live' }]);
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { Connection } from '../../src/connections/store.js';
import type { UpstreamAccess } from '../../src/plugins/plugin.js';
import { telegramPlugin } from '../../src/plugins/telegram/index.js';
import { BotInput } from '../../src/plugins/telegram/credential.js';
import { TelegramError } from '../../src/plugins/telegram/errors.js';
import { startFakeTelegram, type FakeChat, type Failure, type FakeTelegram } from '../fakes/telegram.js';

const channel: FakeChat = { id: -1001234567890, type: 'channel', title: 'Release notes', username: 'releasenotes' };
const group: FakeChat = { id: -4000000001, type: 'group', title: 'Team' };
const kind = telegramPlugin.credentialKinds[0]!;
const send = telegramPlugin.actions[0]!;

/**
 * The Telegram plugin on its own, against a fake Bot API: connecting a bot (getMe, getChat), sending a message, and
 * every way Telegram fails, translated to the plugin's stable codes without the bot token (threat model G2).
 */
describe('the Telegram plugin against a fake Bot API', () => {
  let fake: FakeTelegram;
  let config: Config;
  let token: string;
  const logs: string[] = [];
  const logger = createLogger('info', new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) }));

  const verify = (input: Record<string, unknown>) => kind.paste!.verify(kind.paste!.input.parse(input), { config, logger });
  /** What the connection store would hand back for a verified bot. */
  async function accessFor(botToken: string, chats: string[]): Promise<UpstreamAccess> {
    const verified = await verify({ bot_token: botToken, chats });
    const connection: Connection = {
      id: 'con_test',
      accountId: 'acc_test',
      provider: 'telegram',
      kind: 'telegram.bot',
      label: verified.label,
      status: 'active',
      meta: verified.meta ?? {},
      createdAt: new Date(),
      updatedAt: new Date(),
    };
    return { connection, secret: verified.secret };
  }
  /** Runs the action and returns the error it threw, after checking it is a TelegramError (never grammY's). */
  async function failure(run: () => Promise<unknown>): Promise<TelegramError> {
    const error = await run().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TelegramError);
    // As the error boundary would log a 5xx: pino serializes the message, the stack and every cause.
    logger.error({ err: error }, 'request failed');
    return error as TelegramError;
  }

  beforeAll(async () => {
    fake = await startFakeTelegram();
    config = loadConfig({ NODE_ENV: 'test', TELEGRAM_API_ROOT: fake.url, UPSTREAM_TIMEOUT_MS: '1500' });
    token = fake.addBot({ username: 'release_bot', chats: [channel, group] }).token;
  });
  beforeEach(() => fake.reset());
  afterAll(() => fake.stop());

  describe('connecting a bot', () => {
    it("accepts a working token, labelled with the bot's @username; the token is only in the sealed secret", async () => {
      const verified = await verify({ bot_token: token, chats: '-4000000001\n@releasenotes\n' });
      expect(verified.label).toBe('@release_bot');
      expect(verified.secret).toEqual({ bot_token: token });
      expect(JSON.stringify({ label: verified.label, meta: verified.meta })).not.toContain(token);
      expect(verified.meta).toEqual({
        bot_id: expect.any(Number),
        username: 'release_bot',
        chats: [
          { id: '-4000000001', type: 'group', title: 'Team' },
          { id: '-1001234567890', type: 'channel', username: 'releasenotes', title: 'Release notes' },
        ],
      });
    });

    it('keeps a chat written twice (as its id and its @username, or in two cases) once', async () => {
      const verified = await verify({ bot_token: token, chats: ['@ReleaseNotes', '@releasenotes', '-1001234567890'] });
      expect((verified.meta as { chats: unknown[] }).chats).toEqual([
        { id: '-1001234567890', type: 'channel', username: 'releasenotes', title: 'Release notes' },
      ]);
    });

    it('refuses a token Telegram rejects with 400 invalid_credential', async () => {
      const revoked = fake.addBot({ username: 'old_bot', chats: [group] }).token;
      fake.revoke(revoked);
      const error = await failure(() => verify({ bot_token: revoked, chats: '-4000000001' }));
      expect({ code: error.code, status: error.status }).toEqual({ code: 'invalid_credential', status: 400 });
      expect(error.description).toMatch(/BotFather/);
      expect(JSON.stringify(error) + error.message + error.description).not.toContain(revoked);
    });

    it('names a chat the bot cannot see with 400 chat_not_found', async () => {
      const error = await failure(() => verify({ bot_token: token, chats: '-4000000001\n@someoneelses' }));
      expect({ code: error.code, status: error.status }).toEqual({ code: 'chat_not_found', status: 400 });
      expect(error.description).toContain('@someoneelses');
    });

    it('answers 502 when Telegram cannot be reached and 504 when it does not answer in time', async () => {
      const unreachable = loadConfig({ NODE_ENV: 'test', TELEGRAM_API_ROOT: 'http://127.0.0.1:9', UPSTREAM_TIMEOUT_MS: '400' });
      const down = await failure(() => kind.paste!.verify({ bot_token: token, chats: ['-4000000001'] }, { config: unreachable, logger }));
      expect({ code: down.code, status: down.status }).toEqual({ code: 'upstream_error', status: 502 });

      fake.fail('getMe', 'hang');
      const started = Date.now();
      const slow = await failure(() => verify({ bot_token: token, chats: '-4000000001' }));
      expect({ code: slow.code, status: slow.status }).toEqual({ code: 'upstream_timeout', status: 504 });
      expect(Date.now() - started).toBeLessThan(3000);
    });

    it.each([
      ['a token without the bot id', { bot_token: 'AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0', chats: '-4000000001' }, 'bot_token'],
      ['a token with a space inside', { bot_token: '123456789:AAHfiqksKZ8WmR2z SjiQ7_v4TMAKdiHm9T0', chats: '-4000000001' }, 'bot_token'],
      ['no chats', { bot_token: '123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0', chats: '\n  \n' }, 'chats'],
      [
        'a chat that is neither an id nor a @username',
        { bot_token: '123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0', chats: 'https://t.me/x' },
        'chats',
      ],
      [
        '51 chats',
        { bot_token: '123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0', chats: Array.from({ length: 51 }, (_, i) => `-${1000 + i}`) },
        'chats',
      ],
    ])('refuses %s before asking Telegram', (_name, input, field) => {
      const parsed = BotInput.safeParse(input);
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.path[0]).toBe(field);
    });

    it('forgives spaces and blank lines around pasted values', () => {
      const parsed = BotInput.parse({
        bot_token: '  123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0 \n',
        chats: ' @releasenotes \r\n\r\n-4000000001 ',
      });
      expect(parsed).toEqual({ bot_token: '123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0', chats: ['@releasenotes', '-4000000001'] });
    });
  });

  describe('telegram.send', () => {
    const deps = () => ({ config, logger });

    it("sends exactly the message, through the owner's bot, to the allowed chat's numeric id", async () => {
      const access = await accessFor(token, ['@releasenotes']);
      const before = fake.sent.length;
      const result = await send.run(
        send.input.parse({ chat_id: '-1001234567890', text: 'v2.1 is out', parse_mode: 'HTML', disable_notification: true }),
        access,
        deps(),
      );
      expect(result).toEqual({ message_id: expect.any(Number), chat: '-1001234567890' });
      expect(fake.sent.slice(before)).toEqual([
        expect.objectContaining({ token, chat_id: '-1001234567890', text: 'v2.1 is out', parse_mode: 'HTML', disable_notification: true }),
      ]);
      expect(send.text({ chat_id: '-1001234567890', text: 'v2.1 is out' })).toBe('v2.1 is out');
    });

    it('refuses a chat the connection does not allow (say, after the owner edited the list) without calling Telegram', async () => {
      const access = await accessFor(token, ['@releasenotes']);
      const before = fake.calls.length;
      const error = await failure(() => send.run({ chat_id: '-4000000001', text: 'hello' }, access, deps()));
      expect({ code: error.code, status: error.status }).toEqual({ code: 'chat_not_allowed', status: 403 });
      expect(fake.calls.length).toBe(before);
    });

    it.each<[Failure, string, number]>([
      ['unauthorized', 'reconnect_required', 409],
      ['forbidden', 'chat_forbidden', 403],
      ['parse_error', 'invalid_message', 400],
      ['rate_limited', 'upstream_rate_limited', 429],
      ['server_error', 'upstream_error', 502],
      ['bad_gateway', 'upstream_error', 502],
      ['garbage', 'upstream_error', 502],
      ['malformed', 'upstream_error', 502],
      ['hang', 'upstream_timeout', 504],
    ])('translates Telegram answering %s into %s (%i), with no trace of the token', async (kindOfFailure, code, status) => {
      const access = await accessFor(token, ['-4000000001']);
      fake.fail('sendMessage', kindOfFailure);
      const error = await failure(() =>
        send.run({ chat_id: '-4000000001', text: 'hello *world', parse_mode: 'MarkdownV2' }, access, deps()),
      );
      expect({ code: error.code, status: error.status, expose: error.expose }).toEqual({ code, status, expose: true });
      const everything = [
        error.message,
        error.description,
        error.stack,
        String((error.cause as Error | undefined)?.message),
        JSON.stringify(error),
      ].join('\n');
      expect(everything).not.toContain(token);
      if (kindOfFailure === 'rate_limited') expect(error.retryAfter).toBe('17');
      if (kindOfFailure === 'parse_error') expect(error.description).toMatch(/can't parse entities/);
    });
  });

  it("logs none of the errors above with the bot token, though node-fetch's own errors quote it in a URL (G2)", () => {
    expect(logs.length).toBeGreaterThan(10);
    expect(logs.join('\n')).not.toContain(token.split(':')[1]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeTelegram, type FakeChat, type FakeTelegram, type FakeUser, type ReceivedMessage } from '../fakes/telegram.js';
import { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { TestBrowser, csrfFrom } from '../helpers/browser.js';
import { redirectUri } from '../helpers/token-flow.js';
import { HELP_TEXT, PRIVATE_ONLY_TEXT } from '../../src/telegram-bot/linking.js';
import {
  ALREADY_REVOKED_TEXT,
  BOT_COMMANDS,
  NOT_YOURS_TEXT,
  STALE_BUTTON_TEXT,
  grantRef,
  keptText,
  notLinkedText,
  revokeQuestion,
  revokedText,
} from '../../src/telegram-bot/commands.js';
import { NoticePreferences } from '../../src/notices/preferences.js';
import { botEnv, linkChat, newUser, postUpdate, secretOf, sentTo, waitForSent } from './support.js';

const PROVIDER = 'fakeoauth';
const SCOPE = `upstream:${PROVIDER}`;
const API_PATH = `/upstream/${PROVIDER}/v1/items`;

interface AppJson {
  grant_id: string;
  name: string;
}

/**
 * The linked owner's commands in oauth3's own bot, through the webhook: /apps with Revoke (confirmed, and refused to
 * anyone but the linked user and for anything but the owner's own grants), /connect leading to the console where the
 * browser decides, /connections, /status, and help or the not-linked answer for the rest.
 */
describe.each(backends())('the bot commands of a linked owner (%s)', (backend) => {
  let telegram: FakeTelegram;
  let fake: FakeOAuthProvider;
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    token = telegram.addBot({ username: 'oauth3_commands_bot' }).token;
    fake = await new FakeOAuthProvider().start();
    server = await startTestServer({
      backend,
      env: {
        ...botEnv(telegram, token),
        UPSTREAM_PROVIDERS: JSON.stringify([fake.config(PROVIDER)]),
        UPSTREAM_TIMEOUT_MS: '3000',
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.stop();
    await telegram?.stop();
  });

  async function post(update: ReturnType<FakeTelegram['message']>): Promise<void> {
    const res = await postUpdate(server, update, secretOf(telegram, token));
    expect(res.status).toBe(200);
  }

  /** A message from `from`, in their private chat unless `chat` says otherwise; the messages it got back. */
  async function say(from: FakeUser, text: string, chat?: FakeChat): Promise<ReceivedMessage[]> {
    const before = telegram.sent.length;
    await post(telegram.message(token, { from, text, ...(chat ? { chat } : {}) }));
    return telegram.sent.slice(before).filter((m) => m.chat_id === String(chat?.id ?? from.id));
  }

  /** The only reply to a message, as text. */
  async function reply(from: FakeUser, text: string): Promise<ReceivedMessage> {
    const replies = await say(from, text);
    expect(replies).toHaveLength(1);
    return replies[0]!;
  }

  /** A press on a button of `message` by `from`; what answerCallbackQuery said, and the messages the press sent. */
  async function press(from: FakeUser, message: ReceivedMessage, input: { button?: string; data?: string }) {
    const before = { sent: telegram.sent.length, answers: telegram.answers.length };
    await post(telegram.press(token, { from, message, ...input }));
    const answers = telegram.answers.slice(before.answers);
    expect(answers).toHaveLength(1);
    return { answer: answers[0]!, sent: telegram.sent.slice(before.sent) };
  }

  /** Links a new Telegram user's private chat to `owner`, as the console's Telegram page and /start do. */
  async function link(owner: Owner, name = 'Ada'): Promise<FakeUser> {
    const user = await linkChat(server, telegram, token, owner, name);
    // Only the notices these tests wait for: others (new access, …) would arrive among the replies at their own pace.
    await new NoticePreferences(server.db).set(owner.accountId, ['connections']);
    return user;
  }

  const appsOf = async (owner: Owner) => ((await (await owner.api.get('/console/api/apps')).json()) as { apps: AppJson[] }).apps;

  /** An app the owner consented to (authorize → consent → token), and its access token. */
  async function consentedApp(owner: Owner, name: string): Promise<string> {
    const client = await server.addClient({ name, redirectUris: [redirectUri] });
    return (await owner.appToken(client, `openid ${SCOPE}`)).accessToken;
  }

  /** An OAuth connect of the fake provider in the owner's browser, from the console page `url` to the callback. */
  async function connectThrough(owner: Owner, url: string): Promise<void> {
    const page = await owner.browser.request(url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<h1>Connect Fake OAuth</h1>');
    expect(html).toContain(`action="/console/connections/oauth/${PROVIDER}"`);
    expect(html).toMatch(/>Connect<span class="visually-hidden"> Fake OAuth<\/span><\/button>/);
    const start = await owner.browser.postForm(`/console/connections/oauth/${PROVIDER}`, { csrf: csrfFrom(html) });
    expect(start.status).toBe(303);
    const atProvider = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    expect(atProvider.status).toBe(302);
    const landed = await owner.browser.navigate(atProvider.headers.get('location')!);
    expect(landed.url).toBe(`${server.url}/console/connections`);
  }

  it('answers an unlinked chat, a linked chat written to by someone else, and a group with how to link', async () => {
    const stranger = newUser('Sam');
    for (const command of ['/apps', `/connect ${PROVIDER}`, '/connect', '/connections', '/status'])
      expect((await reply(stranger, command)).text).toBe(notLinkedText(server.url));
    expect(notLinkedText(server.url)).toContain(`${server.url}/console/telegram`);

    const owner = await Owner.signUp(server);
    const ada = await link(owner);
    // A forged update in the owner's private chat from another Telegram user is not the owner speaking.
    const eve = newUser('Eve');
    const forged = await say(eve, '/apps', { id: ada.id, type: 'private', first_name: 'Ada' });
    expect(forged.map((m) => m.text)).toEqual([notLinkedText(server.url)]);
    // A group with the owner in it is not the owner's private chat: refused by linking, nothing listed.
    const group: FakeChat = { id: -5001, type: 'group', title: 'Family' };
    const inGroup = await say(ada, '/apps', group);
    expect(inGroup.map((m) => m.text)).toEqual([PRIVATE_ONLY_TEXT]);
  });

  it('answers unknown text with the help, which lists every command, and sets the command menu', async () => {
    const owner = await Owner.signUp(server);
    const ada = await link(owner);
    expect((await reply(ada, 'what now?')).text).toBe(HELP_TEXT);
    expect((await reply(ada, '/frobnicate')).text).toBe(HELP_TEXT);
    expect((await reply(ada, '/help')).text).toBe(HELP_TEXT);
    expect(HELP_TEXT).toMatch(/\/apps[\s\S]*\/connect <provider>[\s\S]*\/connections[\s\S]*\/status[\s\S]*\/unlink[\s\S]*\/help/);
    const menu = telegram.calls.find((c) => c.token === token && c.method === 'setMyCommands');
    expect(menu?.body.commands).toEqual(BOT_COMMANDS);
  });

  it('/apps lists apps and agents; Revoke, then Yes revokes at once, as the console does; a second Yes is harmless', async () => {
    const owner = await Owner.signUp(server);
    const ada = await link(owner);
    expect((await reply(ada, '/apps')).text).toBe('No app or agent has access to your oauth3 account.');

    const appToken = await consentedApp(owner, 'Photo Printer');
    const agentToken = await owner.agentToken([SCOPE]);
    const apps = await appsOf(owner);
    expect(apps).toHaveLength(2);
    const app = apps.find((a) => a.name === 'Photo Printer')!;
    const agent = apps.find((a) => a.name !== 'Photo Printer')!;
    // Both work before: not 401 (there is no connected account yet, which is another answer).
    expect((await callApi(server, API_PATH, appToken)).status).not.toBe(401);
    expect((await callApi(server, API_PATH, agentToken)).status).not.toBe(401);

    const list = await reply(ada, '/apps');
    expect(list.text).toContain('Apps and agents with access to your oauth3 account (2):');
    expect(list.text).toContain('• Photo Printer\n');
    expect(list.text).toContain(`• ${agent.name} (agent token)`);
    expect(list.text).toContain('Last used: never');
    expect(list.text).toMatch(/Can: .*Know who you are/);
    const buttons = list.reply_markup!.inline_keyboard!.flat();
    expect(buttons.map((b) => b.text).sort()).toEqual([`Revoke ${agent.name}`, 'Revoke Photo Printer'].sort());
    for (const b of buttons) {
      expect(Buffer.byteLength(b.callback_data!)).toBeLessThanOrEqual(64);
      // The grant id itself never travels to Telegram.
      expect(b.callback_data).not.toContain(app.grant_id);
      expect(b.callback_data).not.toContain(agent.grant_id);
    }

    const asked = await press(ada, list, { button: 'Revoke Photo Printer' });
    expect(asked.answer.text).toBeUndefined();
    expect(asked.sent).toHaveLength(1);
    const question = asked.sent[0]!;
    expect(question.text).toBe(revokeQuestion('Photo Printer'));
    expect(question.reply_markup!.inline_keyboard!.flat().map((b) => b.text)).toEqual(['Yes, revoke', 'Cancel']);
    // Asking revoked nothing.
    expect((await callApi(server, API_PATH, appToken)).status).not.toBe(401);

    const yes = await press(ada, question, { button: 'Yes, revoke' });
    expect(yes.answer.text).toBe('Revoked');
    expect(question.text).toBe(revokedText('Photo Printer'));
    expect(question.reply_markup).toBeUndefined();
    expect((await callApi(server, API_PATH, appToken)).status).toBe(401);
    expect((await appsOf(owner)).map((a) => a.grant_id)).toEqual([agent.grant_id]);
    const { rows } = await server.db.query<{ detail: unknown }>(
      "SELECT detail FROM events WHERE account_id = $1 AND kind = 'app.revoked' AND grant_id = $2",
      [owner.accountId, app.grant_id],
    );
    expect(rows).toEqual([{ detail: { via: 'telegram' } }]);

    // The same Yes once more (a replayed button, not a replayed update): nothing more happens.
    const again = await press(ada, question, { data: `app:yes:${grantRef(app.grant_id)}` });
    expect(again.answer.text).toBe(ALREADY_REVOKED_TEXT);
    const { rows: after } = await server.db.query("SELECT 1 FROM events WHERE account_id = $1 AND kind = 'app.revoked'", [owner.accountId]);
    expect(after).toHaveLength(1);

    // The agent token is revoked the same way, through the list sent before.
    const askedAgent = await press(ada, list, { button: `Revoke ${agent.name}` });
    await press(ada, askedAgent.sent[0]!, { button: 'Yes, revoke' });
    expect((await callApi(server, API_PATH, agentToken)).status).toBe(401);
    expect(await appsOf(owner)).toEqual([]);
    expect((await reply(ada, '/apps')).text).toBe('No app or agent has access to your oauth3 account.');
  });

  it("Cancel keeps the app; another Telegram user's press and another owner's grant change nothing", async () => {
    const owner = await Owner.signUp(server);
    const ada = await link(owner);
    const appToken = await consentedApp(owner, 'Calendar Sync');
    const [app] = await appsOf(owner);
    const list = await reply(ada, '/apps');

    const question = (await press(ada, list, { button: 'Revoke Calendar Sync' })).sent[0]!;
    const cancelled = await press(ada, question, { button: 'Cancel' });
    expect(cancelled.answer.text).toBe('Cancelled');
    expect(question.text).toBe(keptText('Calendar Sync'));
    expect((await appsOf(owner)).map((a) => a.grant_id)).toEqual([app!.grant_id]);

    // Someone else pressing the owner's buttons (a forwarded message, or a forged update in the owner's chat).
    const eve = newUser('Eve');
    const question2 = (await press(ada, list, { button: 'Revoke Calendar Sync' })).sent[0]!;
    for (const button of ['Revoke Calendar Sync', 'Yes, revoke']) {
      const target = button === 'Yes, revoke' ? question2 : list;
      const refused = await press(eve, target, { button });
      expect(refused.answer).toMatchObject({ text: NOT_YOURS_TEXT, show_alert: true });
      expect(refused.sent).toEqual([]);
    }
    expect(question2.text).toBe(revokeQuestion('Calendar Sync'));

    // Another owner, linked in their own chat, naming this owner's grant in a forged button: not theirs, so nothing.
    const mallory = await Owner.signUp(server);
    const mal = await link(mallory, 'Mal');
    const malList = await reply(mal, '/apps');
    const forgedMessage = { ...malList, reply_markup: { inline_keyboard: [] } };
    expect((await press(mal, forgedMessage, { data: `app:yes:${grantRef(app!.grant_id)}` })).answer.text).toBe(ALREADY_REVOKED_TEXT);
    for (const data of [`app:yes:${app!.grant_id}`, 'app:yes:', 'app:drop:x'])
      expect((await press(mal, forgedMessage, { data })).answer.text).toBe(STALE_BUTTON_TEXT);
    // A reference that is no digest of a grant of the owner's (here, the start of the grant id) matches nothing.
    expect((await press(ada, question2, { data: `app:yes:${app!.grant_id.slice(0, 16)}` })).answer.text).toBe(ALREADY_REVOKED_TEXT);

    expect((await appsOf(owner)).map((a) => a.grant_id)).toEqual([app!.grant_id]);
    expect((await callApi(server, API_PATH, appToken)).status).not.toBe(401);
  });

  it('/connect <provider> links to the console page, where the browser connects; the chat hears when it is done', async () => {
    const owner = await Owner.signUp(server);
    const ada = await link(owner);

    const answer = (await reply(ada, `/connect ${PROVIDER}`)).text;
    const url = /(https?:\/\/\S+\/console\/connections\/connect\/[a-z0-9-]+)/.exec(answer)?.[1];
    expect(url).toBe(`${server.url}/console/connections/connect/${PROVIDER}`);
    expect(answer).toContain('To connect Fake OAuth');
    // The provider's title works too.
    expect((await reply(ada, '/connect Fake OAuth')).text).toContain(url!);
    expect((await reply(ada, '/connect FAKEOAUTH')).text).toContain(url!);

    // A signed-out browser is sent to sign in and brought back to the same page.
    const signedOut = await new TestBrowser(server.url).request(url!);
    expect(signedOut.status).toBe(302);
    expect(signedOut.headers.get('location')).toBe(
      `/console/login?return=${encodeURIComponent(`/console/connections/connect/${PROVIDER}`)}`,
    );
    expect((await owner.browser.request('/console/connections/connect/nosuch')).status).toBe(404);

    const before = sentTo(telegram, ada.id).length;
    await connectThrough(owner, url!);
    const texts = await waitForSent(telegram, ada.id, before + 1);
    expect(texts.slice(before)).toEqual([`✓ Connected ${PROVIDER} as ada_upstream`]);
  });

  it('/connect with an unknown provider or none lists what can be connected', async () => {
    const owner = await Owner.signUp(server);
    const ada = await link(owner);
    const unknown = (await reply(ada, '/connect myspace')).text;
    expect(unknown).toContain('There is nothing called "myspace" to connect here. You can connect:');
    expect(unknown).toContain(`/connect ${PROVIDER} (Fake OAuth)`);
    expect(unknown).toContain('/connect telegram');
    expect(unknown).not.toContain('/console/connections/connect/');
    const none = (await reply(ada, '/connect')).text;
    expect(none).toMatch(/^Which account\? You can connect:\n/);
    expect(none).toContain(`/connect ${PROVIDER} (Fake OAuth)`);
    expect((await reply(ada, '/connect ../../admin')).text).toContain('You can connect:');
  });

  it('a bot token pasted in the console tells the chat too, and /connections and /status show the facts', async () => {
    const owner = await Owner.signUp(server);
    const ada = await link(owner);
    expect((await reply(ada, '/connections')).text).toBe(
      'You have not connected any account yet. Send /connect to see what you can connect.',
    );

    const channel: FakeChat = { id: -1007770001, type: 'channel', title: 'Release notes', username: 'releasenotes' };
    const bot = telegram.addBot({ username: 'release_bot', chats: [channel] });
    const page = await (await owner.browser.request('/console/connections')).text();
    // Counted before pasting: the notice may reach the chat before the form's answer reaches the test.
    const before = sentTo(telegram, ada.id).length;
    const pasted = await owner.browser.postForm('/console/connections', {
      csrf: csrfFrom(page),
      kind: 'telegram.bot',
      bot_token: bot.token,
      chats: '@releasenotes',
    });
    expect(pasted.status).toBe(303);
    await connectThrough(owner, `/console/connections/connect/${PROVIDER}`);
    const notices = (await waitForSent(telegram, ada.id, before + 2)).filter((t) => t.startsWith('✓ Connected'));
    expect(notices).toEqual(['✓ Connected telegram as @release_bot', `✓ Connected ${PROVIDER} as ada_upstream`]);

    const connected = await server.app.connections.list(owner.accountId);
    const beforeRelink = sentTo(telegram, ada.id).length;
    await server.app.connections.markNeedsRelink(
      connected.find((c) => c.provider === 'telegram')!,
      'Telegram answered 401',
    );
    // Its notice comes first, so it cannot arrive in the middle of the replies below.
    const relinked = await waitForSent(telegram, ada.id, beforeRelink + 1);
    expect(relinked.slice(beforeRelink)).toEqual([expect.stringContaining('needs linking again')]);
    await consentedApp(owner, 'Notes App');
    const [app] = await appsOf(owner);
    await server.app.services.held.create({
      accountId: owner.accountId,
      grantId: app!.grant_id,
      clientId: 'notes',
      action: 'telegram.send',
      payload: { text: 'hello' },
      summary: 'Send "hello"',
    });

    const connections = (await reply(ada, '/connections')).text;
    expect(connections).toContain('Your connected accounts (2):');
    expect(connections).toContain('• ada_upstream on Fake OAuth: working');
    expect(connections).toContain('• @release_bot on Telegram: needs linking again.');
    expect(connections).toContain('Connect it again with /connect telegram');
    expect(connections).not.toContain(bot.token);

    const status = (await reply(ada, '/status')).text;
    expect(status).toContain(`for Telegram Ada @${ada.username}`);
    expect(status).toContain('Posts waiting for your approval: 1');
    expect(status).toContain('Apps and agents with access: 1');
    expect(status).toContain('Connected accounts: 2');
    expect(status).toContain('Needing to be connected again: 1 (@release_bot on telegram)');
  });

  it('stops answering for the owner once the chat is unlinked', async () => {
    const owner = await Owner.signUp(server);
    const ada = await link(owner);
    await consentedApp(owner, 'Late App');
    const list = await reply(ada, '/apps');
    await reply(ada, '/unlink');
    expect((await reply(ada, '/apps')).text).toBe(notLinkedText(server.url));
    const refused = await press(ada, list, { button: 'Revoke Late App' });
    expect(refused.answer.text).toBe(NOT_YOURS_TEXT);
    expect(await appsOf(owner)).toHaveLength(1);
  });
});

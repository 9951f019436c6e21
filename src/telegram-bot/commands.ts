import { createHash } from 'node:crypto';
import { Composer, InlineKeyboard, type Context } from 'grammy';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Database } from '../db/database.js';
import type { AccountStore } from '../accounts/accounts.js';
import type { EventLog } from '../accounts/events.js';
import type { TelegramLink, TelegramLinks } from '../accounts/telegram-links.js';
import type { AgentServices } from '../agents/agent-services.js';
import type { Connection } from '../connections/store.js';
import { connectWays, providerTitles, type ConnectSources } from '../connections/ways.js';
import type { OwnerProviderStore } from '../upstream/owner-providers.js';
import { listConnectedApps, type ConnectedApp } from '../grants/connected-apps.js';
import { findOwnedGrant } from '../grants/revoke.js';
import { revokeApp } from '../grants/revoke-app.js';
import type { ResourceServices } from '../plugins/services.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { NOT_LINKED_TEXT } from './linking.js';
import { linkedOwner } from './linked-owner.js';

export interface CommandsDeps {
  links: TelegramLinks;
  accounts: Pick<AccountStore, 'find'>;
  db: Database;
  provider: Provider;
  events: EventLog;
  services: Pick<ResourceServices, 'policies' | 'held' | 'connections' | 'registry'>;
  agentServices: Pick<AgentServices, 'find' | 'revoke'>;
  /** The providers one can connect, and the owner's own OAuth apps when the server offers them. */
  upstream: ConnectSources & { own?: Pick<OwnerProviderStore, 'list'> };
  scopes: ScopeCatalog;
  /** The server's public address, for links to the console. */
  issuer: string;
}

/** The commands the bot's menu offers (setMyCommands), in the order HELP_TEXT lists them. */
export const BOT_COMMANDS = [
  { command: 'apps', description: 'Apps and agents with access, and revoke them' },
  { command: 'connect', description: 'Connect an account, such as /connect x' },
  { command: 'connections', description: 'Your connected accounts' },
  { command: 'status', description: 'What this chat is linked to, in short' },
  { command: 'unlink', description: 'Stop this chat speaking for your oauth3 account' },
  { command: 'help', description: 'The list of commands' },
];

export const notLinkedText = (issuer: string) =>
  `${NOT_LINKED_TEXT} To link it, open ${issuer}/console/telegram, press "Make a link" and open that link here.`;
export const NOT_YOURS_TEXT = 'Only the Telegram account linked to this oauth3 account can use these buttons.';
export const ALREADY_REVOKED_TEXT = 'Already revoked: this app no longer has access.';
export const STALE_BUTTON_TEXT = 'This button no longer works. Send /apps for a fresh list.';
export const revokeQuestion = (name: string) => `Revoke access for ${name}? It stops working at once.`;
export const revokedText = (name: string) => `Revoked. ${name} no longer has access; every token it held has stopped working.`;
export const keptText = (name: string) => `Cancelled. ${name} keeps its access.`;

/**
 * A grant as a button carries it: Telegram allows 64 bytes of callback_data and grant ids may be as long, so a button
 * names a short digest instead, looked up among the pressing owner's own grants only (another owner's grant cannot
 * match, and a forged digest matches nothing).
 */
export const grantRef = (grantId: string) => createHash('sha256').update(`telegram-grant:${grantId}`).digest('base64url').slice(0, 16);
const GrantRef = z.string().regex(/^[A-Za-z0-9_-]{16}$/);
/** `app:revoke|yes|no:<ref>`: asks to confirm, confirms, cancels. */
const APP_BUTTON = /^app:([a-z]+):(.*)$/;
const APP_ACTIONS = new Set(['revoke', 'yes', 'no']);

/** Telegram refuses messages over 4096 characters; the list stops before that and points at the console. */
const MAX_TEXT = 3500;
/** Buttons per message, well under Telegram's 100. */
const MAX_BUTTONS = 40;
/** A name on a button, shortened so the button stays readable. */
const buttonName = (name: string) => (name.length > 40 ? `${name.slice(0, 39)}…` : name);

const when = (date: Date | undefined) => (date ? `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'never');

/**
 * The linked owner's commands: /apps (revoke with confirmation), /connect, /connections, /status. Each acts only in a
 * private chat, and only for the Telegram user the chat is linked to; anything it leaves goes on to linking.ts.
 */
export function commandHandlers(deps: CommandsDeps): Composer<Context> {
  const { issuer } = deps;
  const composer = new Composer<Context>();

  const linkOf = (ctx: Context) => linkedOwner(ctx, deps);

  const direct = composer.chatType('private');
  /** Registers a command that runs only for the linked owner; anyone else is told how to link. */
  function ownerCommand(name: string, run: (ctx: Context & { match: string }, link: TelegramLink) => Promise<unknown>) {
    direct.command(name, async (ctx) => {
      const link = await linkOf(ctx);
      if (!link) return void (await ctx.reply(notLinkedText(issuer)));
      await run(ctx, link);
    });
  }

  const scopeWords = (scopes: string[]) => scopes.map((name) => deps.scopes.get(name)?.title ?? name).join('; ') || 'nothing';

  ownerCommand('apps', async (ctx, link) => {
    const apps = await listConnectedApps(deps.db, link.accountId);
    if (!apps.length) return ctx.reply('No app or agent has access to your oauth3 account.');
    const lines = [`Apps and agents with access to your oauth3 account (${apps.length}):`];
    const keyboard = new InlineKeyboard();
    let shown = 0;
    for (const app of apps) {
      const entry = [
        '',
        `• ${app.name}${app.kind === 'agent' ? ' (agent token)' : ''}`,
        `  Can: ${scopeWords(app.scopes)}`,
        `  Last used: ${when(app.lastUsedAt)}`,
      ].join('\n');
      if (shown >= MAX_BUTTONS || lines.join('\n').length + entry.length > MAX_TEXT) break;
      lines.push(entry);
      keyboard.text(`Revoke ${buttonName(app.name)}`, `app:revoke:${grantRef(app.grantId)}`).row();
      shown++;
    }
    if (shown < apps.length) lines.push('', `…and ${apps.length - shown} more: ${issuer}/console/apps`);
    lines.push('', `Limits and details: ${issuer}/console/apps`);
    return ctx.reply(lines.join('\n'), { reply_markup: keyboard });
  });

  /** The ways to connect, one line per provider: `x` (X), as /connect takes them. */
  async function connectable(accountId: string) {
    const own = deps.upstream.own ? await deps.upstream.own.list(accountId) : [];
    const title = providerTitles(deps.upstream, own);
    const providers = [...new Set(connectWays(deps.services.registry, deps.upstream, own).map((w) => w.provider))];
    return providers.map((provider) => ({ provider, title: title(provider) }));
  }

  ownerCommand('connect', async (ctx, link) => {
    const list = await connectable(link.accountId);
    // Compared with the providers on offer only; anything longer than a name is no name.
    const wanted = z.string().max(64).catch('').parse(ctx.match.trim()).toLowerCase();
    const found = wanted ? list.find((p) => p.provider === wanted || p.title.toLowerCase() === wanted) : undefined;
    if (found)
      return ctx.reply(
        `To connect ${found.title}, open this link and press Connect there (you may be asked to sign in first):\n` +
          `${issuer}/console/connections/connect/${found.provider}\n\nThis chat will say so when it is done.`,
      );
    const names = list.map((p) => `/connect ${p.provider}${p.title.toLowerCase() === p.provider ? '' : ` (${p.title})`}`);
    const intro = wanted ? `There is nothing called "${ctx.match.trim().slice(0, 32)}" to connect here.` : 'Which account?';
    return ctx.reply(
      names.length
        ? `${intro} You can connect:\n${names.join('\n')}`
        : `${wanted ? `${intro} ` : ''}This server offers no accounts to connect.`,
    );
  });

  const connectionLine = (c: Connection, title: (provider: string) => string) =>
    c.status === 'active'
      ? `• ${c.label} on ${title(c.provider)}: working`
      : `• ${c.label} on ${title(c.provider)}: needs linking again. ${title(c.provider)} no longer accepts it, so apps cannot use it. ` +
        `Connect it again with /connect ${c.provider}`;

  ownerCommand('connections', async (ctx, link) => {
    const list = await deps.services.connections.list(link.accountId);
    if (!list.length) return ctx.reply('You have not connected any account yet. Send /connect to see what you can connect.');
    const own = deps.upstream.own ? await deps.upstream.own.list(link.accountId) : [];
    const title = providerTitles(deps.upstream, own);
    return ctx.reply(
      [
        `Your connected accounts (${list.length}):`,
        ...list.map((c) => connectionLine(c, title)),
        '',
        `Manage them: ${issuer}/console/connections`,
      ].join('\n'),
    );
  });

  ownerCommand('status', async (ctx, link) => {
    const [account, pending, apps, connections] = await Promise.all([
      deps.accounts.find(link.accountId),
      deps.services.held.countPending(link.accountId),
      listConnectedApps(deps.db, link.accountId),
      deps.services.connections.list(link.accountId),
    ]);
    const relink = connections.filter((c) => c.status === 'needs_relink');
    const name = account?.username ?? account?.email;
    const who = [link.firstName, link.username ? `@${link.username}` : undefined].filter(Boolean).join(' ') || `user ${link.userId}`;
    return ctx.reply(
      [
        `This chat is linked to ${name ? `the oauth3 account ${name}` : 'your oauth3 account'}, for Telegram ${who}, since ${when(link.linkedAt)}.`,
        `Posts waiting for your approval: ${pending}`,
        `Apps and agents with access: ${apps.length}`,
        `Connected accounts: ${connections.length}`,
        relink.length
          ? `Needing to be connected again: ${relink.length} (${relink.map((c) => `${c.label} on ${c.provider}`).join(', ')})`
          : 'Needing to be connected again: none',
      ].join('\n'),
    );
  });

  composer.callbackQuery(APP_BUTTON, async (ctx) => {
    const link = await linkOf(ctx);
    if (!link) return ctx.answerCallbackQuery({ text: NOT_YOURS_TEXT, show_alert: true });
    const [, action = '', raw] = ctx.match as RegExpMatchArray;
    const ref = GrantRef.safeParse(raw);
    if (!APP_ACTIONS.has(action) || !ref.success) return ctx.answerCallbackQuery({ text: STALE_BUTTON_TEXT });
    const app: ConnectedApp | undefined = (await listConnectedApps(deps.db, link.accountId)).find((a) => grantRef(a.grantId) === ref.data);
    // Checked against the owner's grants once more, as the console does. An unknown reference, another owner's grant
    // and one revoked a moment ago all get the same answer, and change nothing.
    const grant = app ? await findOwnedGrant(deps.provider, link.accountId, app.grantId) : undefined;
    if (!app || !grant) return ctx.answerCallbackQuery({ text: ALREADY_REVOKED_TEXT });
    if (action === 'revoke') {
      await ctx.answerCallbackQuery();
      return ctx.reply(revokeQuestion(app.name), {
        reply_markup: new InlineKeyboard().text('Yes, revoke', `app:yes:${ref.data}`).text('Cancel', `app:no:${ref.data}`),
      });
    }
    if (action === 'no') {
      await ctx.answerCallbackQuery({ text: 'Cancelled' });
      return editQuietly(ctx, keptText(app.name));
    }
    await revokeApp(
      { provider: deps.provider, db: deps.db, events: deps.events, policies: deps.services.policies, agentServices: deps.agentServices },
      { accountId: link.accountId, via: 'telegram' },
      grant,
    );
    await ctx.answerCallbackQuery({ text: 'Revoked' });
    return editQuietly(ctx, revokedText(app.name));
  });

  return composer;
}

/** Replaces the pressed message's text and drops its buttons; a message Telegram will not edit (too old) is left. */
async function editQuietly(ctx: Context, text: string): Promise<void> {
  try {
    await ctx.editMessageText(text);
  } catch {
    // The answer to the press already told the owner what happened.
  }
}

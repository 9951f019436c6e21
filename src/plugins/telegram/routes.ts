import type { RouterMiddleware } from '@koa/router';
import { z } from 'zod';
import { readBody } from '../../http/body.js';
import type { ApiContext, ApiRouter, PluginKit, ResourceState, UpstreamAccess } from '../plugin.js';
import { reportUpstreamErrors } from '../upstream-errors.js';
import { BotMeta, ChatRef, findAllowedChat } from './chats.js';
import { TelegramError } from './errors.js';
import { PARSE_MODES, type SendPayload } from './send.js';

const MessageBody = z.object({
  chat: ChatRef,
  text: z.string().min(1).max(4096).regex(/\S/, 'must not be blank'),
  parse_mode: z.enum(PARSE_MODES).optional(),
  disable_notification: z.boolean().optional(),
});

type Stage = RouterMiddleware<ResourceState>;
interface MessageState extends ResourceState {
  message?: z.output<typeof MessageBody>;
  access?: UpstreamAccess;
}
const stateOf = (ctx: ApiContext) => ctx.state as MessageState;

/** The bot's allowed chats, from what getChat said when the owner connected it. */
function allowedChats(access: UpstreamAccess) {
  const meta = BotMeta.safeParse(access.connection.meta);
  return meta.success ? meta.data : { bot_id: 0, username: '', chats: [] };
}

const parseMessage: Stage = async function parseMessage(ctx, next) {
  stateOf(ctx).message = MessageBody.parse(await readBody(ctx));
  await next();
};

/** Telegram's refusal of the bot token marks the connection this call opened; a 429 carries Telegram's wait. */
function reportTelegramErrors(kit: PluginKit): Stage {
  return reportUpstreamErrors(kit, (ctx) => stateOf(ctx).access?.connection);
}

/** A chat outside the owner's list is refused here, before the policy and before Telegram hears of it. */
function allowedChat(kit: PluginKit): Stage {
  return async function allowedChat(ctx, next) {
    const state = stateOf(ctx);
    state.access = await kit.connection(ctx, 'telegram');
    const chat = findAllowedChat(allowedChats(state.access).chats, state.message!.chat);
    if (!chat) throw new TelegramError('chat_not_allowed', `The owner did not allow the bot to post to ${state.message!.chat}.`);
    state.message!.chat = chat.id;
    await next();
  };
}

function sendMessage(kit: PluginKit): Stage {
  return async function sendMessage(ctx) {
    const { chat, ...rest } = stateOf(ctx).message!;
    const payload: SendPayload = { chat_id: chat, ...rest };
    await kit.perform(ctx, 'telegram.send', payload);
  };
}

function listChats(kit: PluginKit): Stage {
  return async function listChats(ctx) {
    const meta = allowedChats(await kit.connection(ctx, 'telegram'));
    ctx.body = {
      bot: meta.username ? `@${meta.username}` : null,
      chats: meta.chats.map((c) => ({
        id: c.id,
        username: c.username ? `@${c.username}` : null,
        title: c.title ?? null,
        type: c.type ?? null,
      })),
    };
  };
}

/** Paths are relative to the resource API root (/api). */
export function telegramRoutes(router: ApiRouter, kit: PluginKit): void {
  router.post(
    '/telegram/messages',
    kit.requireScope('telegram.post_any'),
    reportTelegramErrors(kit),
    parseMessage,
    allowedChat(kit),
    sendMessage(kit),
  );
  router.get('/telegram/chats', kit.requireScope('telegram.post_any'), listChats(kit));
}

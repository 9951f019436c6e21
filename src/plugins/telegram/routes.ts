import type { RouterMiddleware } from '@koa/router';
import { readBody } from '../../http/body.js';
import type { ApiContext, ApiRouter, PluginKit, ResourceState } from '../plugin.js';
import { reportUpstreamErrors } from '../upstream-errors.js';
import { MessageBody, allowedChats, chatListing, resolveChat } from './messages.js';
import type { SendPayload } from './send.js';

type Stage = RouterMiddleware<ResourceState>;
interface MessageState extends ResourceState {
  message?: MessageBody;
}
const stateOf = (ctx: ApiContext) => ctx.state as MessageState;

const parseMessage: Stage = async function parseMessage(ctx, next) {
  stateOf(ctx).message = MessageBody.parse(await readBody(ctx));
  await next();
};

/** Telegram's refusal of the bot token marks the connection this call opened; a 429 carries Telegram's wait. */
function reportTelegramErrors(kit: PluginKit): Stage {
  return reportUpstreamErrors(kit);
}

/** A chat outside the owner's list is refused here, before the policy and before Telegram hears of it. */
function allowedChat(kit: PluginKit): Stage {
  return async function allowedChat(ctx, next) {
    const message = stateOf(ctx).message!;
    message.chat = await resolveChat(kit, ctx, message.chat);
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
    ctx.body = chatListing(allowedChats(await kit.connection(ctx, 'telegram')));
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

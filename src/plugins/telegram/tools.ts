import { z } from 'zod';
import { defineTool, type Tool } from '../plugin.js';
import { actionOutput } from '../action-tool.js';
import { ChatRef } from './chats.js';
import { MessageBody, allowedChats, chatListing, resolveChat } from './messages.js';

const Chat = z.object({ id: z.string(), username: z.string().nullable(), title: z.string().nullable(), type: z.string().nullable() });

/** The Telegram routes' work (./routes.ts) as MCP tools, through the same kit and the same allow-list. */
export const telegramTools: Tool[] = [
  defineTool({
    name: 'list_telegram_chats',
    title: 'List my Telegram chats',
    description: "The chats and channels the owner allowed their Telegram bot to post to, with the bot's @username.",
    scope: 'telegram.post_any',
    input: z.object({}).strict(),
    output: z.object({ bot: z.string().nullable(), chats: z.array(Chat) }),
    annotations: { readOnlyHint: true, openWorldHint: false },
    async call(_args, call, kit) {
      return chatListing(allowedChats(await kit.connection(call, 'telegram')));
    },
  }),
  defineTool({
    name: 'send_telegram_message',
    title: 'Send a Telegram message',
    description:
      "Sends a message through the owner's Telegram bot to one of the chats the owner allowed (see list_telegram_chats), " +
      "within the owner's policy for this agent. If the owner approves messages first, the result has status " +
      'pending_approval and an approval id: the message goes out when the owner approves it; do not send it again.',
    scope: 'telegram.post_any',
    input: MessageBody.extend({
      chat: ChatRef.describe('A chat id such as -1001234567890 or a @channelusername the owner allowed.'),
      text: MessageBody.shape.text.describe('The message, at most 4096 characters.'),
    }),
    output: actionOutput(z.object({ message_id: z.number().int(), chat: z.string() })),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    async call(args, call, kit) {
      const { chat, ...rest } = args;
      const chatId = await resolveChat(kit, call, chat);
      return kit.act(call, 'telegram.send', { chat_id: chatId, ...rest });
    },
  }),
];

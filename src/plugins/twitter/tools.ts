import { z } from 'zod';
import { defineTool, type Tool } from '../plugin.js';
import { actionOutput } from '../action-tool.js';
import { xAccount } from './account.js';
import { PostTweet, RecentTweets, TweetId } from './inputs.js';

const Profile = z.object({ id: z.string(), username: z.string(), name: z.string() });
const Post = z.object({ id: z.string(), text: z.string() });

/** The X routes' work (./routes.ts) as MCP tools: the same account, the same kit, the same policy for posts. */
export const twitterTools: Tool[] = [
  defineTool({
    name: 'get_me',
    title: 'Who am I on X',
    description: "The owner's connected X account: its user id, @username and display name.",
    scope: 'tweet.read',
    input: z.object({}).strict(),
    output: Profile,
    annotations: { readOnlyHint: true, openWorldHint: true },
    async call(_args, call, kit) {
      const { id, username, name } = await xAccount(kit.config, await kit.connection(call, 'x')).me();
      return { id, username, name };
    },
  }),
  defineTool({
    name: 'list_tweets',
    title: 'List my recent posts on X',
    description: "The owner's most recent posts on X, newest first, with their ids (use an id to reply, quote or delete).",
    scope: 'tweet.read',
    input: RecentTweets.extend({ limit: RecentTweets.shape.limit.describe('How many posts, 1 to 100 (default 10).') }),
    output: z.object({ tweets: z.array(Post) }),
    annotations: { readOnlyHint: true, openWorldHint: true },
    async call(args, call, kit) {
      return { tweets: await xAccount(kit.config, await kit.connection(call, 'x')).tweets(args.limit) };
    },
  }),
  defineTool({
    name: 'post_tweet',
    title: 'Post on X',
    description:
      "Posts on X as the owner, within the owner's policy for this agent (daily limit, content rules). `reply_to` " +
      'replies to a post and `quote` quotes one (both take post ids). If the owner approves posts first, the result ' +
      'has status pending_approval and an approval id: the post goes out when the owner approves it; do not post it again.',
    scope: 'tweet.post',
    input: PostTweet.extend({
      text: PostTweet.shape.text.describe('The post, at most 280 characters.'),
      reply_to: PostTweet.shape.reply_to.describe('Id of the post this replies to.'),
      quote: PostTweet.shape.quote.describe('Id of the post this quotes.'),
    }),
    output: actionOutput(Post),
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    call: (args, call, kit) => kit.act(call, 'tweet.post', args),
  }),
  defineTool({
    name: 'delete_tweet',
    title: 'Delete a post on X',
    description: "Deletes one of the owner's posts on X by its id. It cannot be undone.",
    scope: 'tweet.delete',
    input: z.object({ id: TweetId.describe('Id of the post to delete.') }).strict(),
    output: z.object({ id: z.string(), deleted: z.literal(true) }),
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    async call(args, call, kit) {
      await xAccount(kit.config, await kit.connection(call, 'x')).remove(args.id);
      return { id: args.id, deleted: true as const };
    },
  }),
];

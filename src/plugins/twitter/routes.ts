import type { RouterMiddleware } from '@koa/router';
import { readBody } from '../../http/body.js';
import type { ApiContext, ApiRouter, PluginKit, ResourceState } from '../plugin.js';
import { reportUpstreamErrors } from '../upstream-errors.js';
import { xAccount } from './account.js';
import { PostTweet, RecentTweets, TweetId } from './inputs.js';

type Stage = RouterMiddleware<ResourceState>;

/** What the parsing stages leave for the handler: input is validated at the edge, once. */
interface TwitterState extends ResourceState {
  post?: PostTweet;
  tweetId?: string;
  limit?: number;
}
const stateOf = (ctx: ApiContext) => ctx.state as TwitterState;

const parsePost: Stage = async function parsePost(ctx, next) {
  stateOf(ctx).post = PostTweet.parse(await readBody(ctx));
  await next();
};

const parseTweetId: Stage = async function parseTweetId(ctx, next) {
  stateOf(ctx).tweetId = TweetId.parse(ctx.params.id);
  await next();
};

const parseRecent: Stage = async function parseRecent(ctx, next) {
  stateOf(ctx).limit = RecentTweets.parse(ctx.query).limit;
  await next();
};

/** An XError names the connection X refused and X's wait on a 429. */
const reportXErrors = (kit: PluginKit): Stage => reportUpstreamErrors(kit);

/** The owner's X account for this call, by whichever client its connection needs. */
const accountFor = async (kit: PluginKit, ctx: ApiContext) => xAccount(kit.config, await kit.connection(ctx, 'x'));

/** Routes under /api: posting goes through the owner's policy (`kit.perform`); reading and deleting do not post. */
export function twitterRoutes(router: ApiRouter, kit: PluginKit): void {
  const xErrors = reportXErrors(kit);

  router.post('/tweet', kit.requireScope('tweet.post'), xErrors, parsePost, async function postTweet(ctx) {
    await kit.perform(ctx, 'tweet.post', stateOf(ctx).post!);
  });

  // Deleting is not a post: no daily count, content rule or approval applies, only its own scope.
  router.delete('/tweet/:id', kit.requireScope('tweet.delete'), xErrors, parseTweetId, async function deleteTweet(ctx) {
    const id = stateOf(ctx).tweetId!;
    await (await accountFor(kit, ctx)).remove(id);
    ctx.body = { id, deleted: true };
  });

  router.get('/me', kit.requireScope('tweet.read'), xErrors, async function showMe(ctx) {
    const { id, username, name } = await (await accountFor(kit, ctx)).me();
    ctx.body = { id, username, name };
  });

  router.get('/tweets', kit.requireScope('tweet.read'), xErrors, parseRecent, async function recentTweets(ctx) {
    ctx.body = { tweets: await (await accountFor(kit, ctx)).tweets(stateOf(ctx).limit!) };
  });
}

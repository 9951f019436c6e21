import type { Action } from '../plugin.js';
import { xAccount } from './account.js';
import { PostTweet } from './inputs.js';

/**
 * Posting is a policy-checked action (limits, content rules, hold for approval): the route hands the parsed post to
 * `kit.perform`, which runs it now, or later when the owner approves it in the console.
 */
export const tweetPost: Action<PostTweet, { id: string; text: string }> = {
  id: 'tweet.post',
  scope: 'tweet.post',
  provider: 'x',
  input: PostTweet,
  text: (post) => post.text,
  run: (post, access, deps) => xAccount(deps.config, access).post(post),
};

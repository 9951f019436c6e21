import { z } from 'zod';

/**
 * The parts of X's web GraphQL API the cookie client uses, shaped like the requests x.com's own web app sends
 * (the same bodies public clients such as agent-twitter-client and twikit send). X rotates the query ids when it
 * ships its web app; an operator updates them with X_WEB_QUERY_IDS without a new release.
 */
export const DEFAULT_QUERY_IDS = {
  CreateTweet: 'oB-5XsHNAbjvARJEc8CZFw',
  DeleteTweet: 'VaenaVgh5q5ih7kvyVjgtg',
  UserTweets: 'V7H0Ap3_Hh2FyS75OCDO3Q',
};
export type Operation = keyof typeof DEFAULT_QUERY_IDS;
export type QueryIds = Record<Operation, string>;

/** Feature switches the web app sends with tweet mutations and timelines; X answers 400 when required ones are missing. */
export const TWEET_FEATURES = {
  communities_web_enable_tweet_community_results_fetch: true,
  c9s_tweet_anatomy_moderator_badge_enabled: true,
  tweetypie_unmention_optimization_enabled: true,
  responsive_web_edit_tweet_api_enabled: true,
  graphql_is_translatable_rweb_tweet_is_translatable_enabled: true,
  view_counts_everywhere_api_enabled: true,
  longform_notetweets_consumption_enabled: true,
  responsive_web_twitter_article_tweet_consumption_enabled: true,
  tweet_awards_web_tipping_enabled: false,
  creator_subscriptions_quote_tweet_preview_enabled: false,
  longform_notetweets_rich_text_read_enabled: true,
  longform_notetweets_inline_media_enabled: true,
  articles_preview_enabled: true,
  rweb_video_timestamps_enabled: true,
  rweb_tipjar_consumption_enabled: true,
  responsive_web_graphql_exclude_directive_enabled: true,
  verified_phone_label_enabled: false,
  freedom_of_speech_not_reach_fetch_enabled: true,
  standardized_nudges_misinfo: true,
  tweet_with_visibility_results_prefer_gql_limited_actions_policy_enabled: true,
  responsive_web_graphql_skip_user_profile_image_extensions_enabled: false,
  responsive_web_graphql_timeline_navigation_enabled: true,
  responsive_web_enhance_cards_enabled: false,
};

export interface NewPost {
  text: string;
  reply_to?: string;
  quote?: string;
}

/** CreateTweet variables: a reply names the post it answers; a quote attaches the quoted post's URL, as x.com does. */
export function createTweetVariables(post: NewPost): Record<string, unknown> {
  return {
    tweet_text: post.text,
    dark_request: false,
    media: { media_entities: [], possibly_sensitive: false },
    semantic_annotation_ids: [],
    ...(post.reply_to ? { reply: { in_reply_to_tweet_id: post.reply_to, exclude_reply_user_ids: [] } } : {}),
    // A URL X parses, not an address we call: it stays x.com whatever X_WEB_URL points at.
    ...(post.quote ? { attachment_url: `https://x.com/i/status/${post.quote}` } : {}),
  };
}

export function userTweetsVariables(userId: string, count: number): Record<string, unknown> {
  return {
    userId,
    count,
    includePromotedContent: false,
    withQuickPromoteEligibilityTweetFields: false,
    withVoice: true,
    withV2Timeline: true,
  };
}

/** A tweet result, sometimes wrapped by X in `TweetWithVisibilityResults`. */
const TweetResult = z.object({
  rest_id: z.string().regex(/^\d+$/).optional(),
  legacy: z.object({ full_text: z.string() }).partial().optional(),
  tweet: z.object({ rest_id: z.string().regex(/^\d+$/), legacy: z.object({ full_text: z.string() }).partial().optional() }).optional(),
});
type TweetResult = z.infer<typeof TweetResult>;

function unwrap(result: TweetResult): { id: string; text: string } | undefined {
  const tweet = result.rest_id ? result : result.tweet;
  return tweet?.rest_id ? { id: tweet.rest_id, text: tweet.legacy?.full_text ?? '' } : undefined;
}

export const CreateTweetReply = z.object({
  data: z.object({ create_tweet: z.object({ tweet_results: z.object({ result: TweetResult }) }) }),
});

export const createdTweet = (reply: z.infer<typeof CreateTweetReply>) => unwrap(reply.data.create_tweet.tweet_results.result);

export const DeleteTweetReply = z.object({ data: z.object({ delete_tweet: z.object({}).passthrough() }) });

const Entry = z
  .object({
    content: z
      .object({
        itemContent: z
          .object({ tweet_results: z.object({ result: TweetResult }).optional() })
          .passthrough()
          .optional(),
      })
      .passthrough(),
  })
  .passthrough();
const Instruction = z.object({ entries: z.array(Entry).optional(), entry: Entry.optional() }).passthrough();
const Timeline = z.object({ timeline: z.object({ instructions: z.array(Instruction) }) });

/** X has answered with `timeline_v2` and, more recently, `timeline`; either holds the same instructions. */
export const UserTweetsReply = z.object({
  data: z.object({
    user: z.object({ result: z.object({ timeline_v2: Timeline.optional(), timeline: Timeline.optional() }).passthrough() }),
  }),
});

export function timelineTweets(reply: z.infer<typeof UserTweetsReply>): { id: string; text: string }[] {
  const timeline = reply.data.user.result.timeline_v2 ?? reply.data.user.result.timeline;
  const out: { id: string; text: string }[] = [];
  for (const instruction of timeline?.timeline.instructions ?? []) {
    for (const entry of [...(instruction.entries ?? []), ...(instruction.entry ? [instruction.entry] : [])]) {
      const result = entry.content.itemContent?.tweet_results?.result;
      const tweet = result && unwrap(result);
      if (tweet) out.push(tweet);
    }
  }
  return out;
}

/** `1.1/account/verify_credentials.json`, the call X clients make to learn who a cookie belongs to. */
export const VerifyCredentialsReply = z.object({
  id_str: z.string().regex(/^\d+$/),
  screen_name: z.string().regex(/^\w{1,50}$/),
  name: z.string().max(200).default(''),
});

/** GraphQL errors arrive with HTTP 200 (`{ errors: [{ code: 187 }] }`): they are failures all the same. */
export const XErrors = z
  .object({
    errors: z
      .array(z.object({ code: z.number().optional(), message: z.string().optional(), detail: z.string().optional() }).passthrough())
      .optional(),
    detail: z.string().optional(),
  })
  .passthrough();

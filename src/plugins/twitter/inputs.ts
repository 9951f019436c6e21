import { z } from 'zod';

/** X ids are 64-bit integers written in decimal. */
export const TweetId = z.string().regex(/^\d{1,20}$/, 'must be a post id (digits only)');

/** X counts a post's length in code points (an emoji is one); 280 is the limit for accounts without a subscription. */
export const PostTweet = z
  .object({
    text: z
      .string()
      .refine((t) => t.trim().length > 0, 'must not be empty')
      .refine((t) => [...t].length <= 280, 'must be at most 280 characters'),
    reply_to: TweetId.optional(),
    quote: TweetId.optional(),
  })
  .strict();
export type PostTweet = z.output<typeof PostTweet>;

export const RecentTweets = z
  .object({
    limit: z.coerce.number().int().min(1).max(100).default(10),
  })
  .strict();

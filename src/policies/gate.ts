import type { EventLog } from '../accounts/events.js';
import type { Queryable } from '../db/database.js';
import { AppError } from '../errors.js';
import type { Policy } from './policy.js';

/**
 * Content rules look at this much of a text at most: a blocked pattern is the owner's own regular expression, and a
 * bounded input keeps a pathological one from holding the event loop (posts and messages are shorter anyway).
 */
export const MAX_CHECKED_LENGTH = 10_000;

/** Letters, digits and underscore in any script: what "a whole word" is bounded by. */
const WORD = String.raw`[\p{L}\p{N}_]`;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A URL with a scheme, a www. host, or a bare domain such as example.com or sub.example.co.uk/path. */
const LINK = new RegExp(
  String.raw`(?:\b[a-z][a-z0-9+.-]*://\S)|(?:\bwww\.\S)|(?:(?<!${WORD}|@)(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})(?!${WORD}|-))`,
  'iu',
);
/** @handle as X and Telegram write them; an e-mail address (word@host) is not a mention. */
const MENTION = new RegExp(String.raw`(?<!${WORD}|@)@[A-Za-z0-9_]{1,32}(?!${WORD})`, 'u');

const compiled = new Map<string, RegExp>();
function cached(source: string, build: () => RegExp): RegExp {
  let re = compiled.get(source);
  if (!re) {
    if (compiled.size > 5000) compiled.clear();
    re = build();
    compiled.set(source, re);
  }
  return re;
}

/** Whole word or phrase, case-insensitively; any run of spaces in a phrase matches any run of whitespace. */
const wordPattern = (word: string) =>
  cached(`w:${word}`, () => new RegExp(`(?<!${WORD})${word.trim().split(/\s+/).map(escape).join('\\s+')}(?!${WORD})`, 'iu'));
const ownerPattern = (pattern: string) => cached(`p:${pattern}`, () => new RegExp(pattern, 'iu'));

/**
 * The owner's content rules applied to a text: the first rule broken refuses the action with a
 * stable 403 code, naming the rule but not echoing the text. Compatibility forms (full-width letters ...) are folded
 * first (NFKC), so a look-alike spelling does not slip past a blocked word.
 */
export function contentRefusal(policy: Policy, raw: string): AppError | undefined {
  const text = raw.normalize('NFKC').slice(0, MAX_CHECKED_LENGTH);
  const word = policy.blocked_words.find((w) => wordPattern(w).test(text));
  if (word !== undefined) return new AppError('policy_blocked_word', 403, `The owner does not allow the word or phrase "${word}".`);
  const pattern = policy.blocked_patterns.find((p) => ownerPattern(p).test(text));
  if (pattern !== undefined) return new AppError('policy_blocked_pattern', 403, 'The text matches a pattern the owner blocked.');
  if (policy.no_links && LINK.test(text)) return new AppError('policy_no_links', 403, 'The owner does not allow links.');
  if (policy.no_mentions && MENTION.test(text))
    return new AppError('policy_no_mentions', 403, 'The owner does not allow mentions of other accounts.');
  return undefined;
}

export const dailyLimitReached = (limit: number) =>
  new AppError('policy_daily_limit', 403, `The owner allows this app ${limit} post(s) per day; try again tomorrow (UTC).`);

/**
 * Posts counted against each grant's daily limit (policy_usage, UTC days). `take` is atomic: the increment happens
 * only while the count is below the limit, in one statement, so concurrent calls can never take more than `limit`
 * slots.
 */
export class DailyLimits {
  constructor(
    private readonly db: Queryable,
    /** Where the day's first refusal is recorded ('limit.daily_reached': the access log and the owner's notice). */
    private readonly events?: EventLog,
  ) {}

  async take(grantId: string, limit: number): Promise<boolean> {
    if (limit <= 0) return false;
    const { rows } = await this.db.query<{ count: number }>(
      `INSERT INTO policy_usage (grant_id, day, count) VALUES ($1, (now() AT TIME ZONE 'utc')::date, 1)
       ON CONFLICT (grant_id, day) DO UPDATE SET count = policy_usage.count + 1 WHERE policy_usage.count < $2
       RETURNING count`,
      [grantId, limit],
    );
    return rows.length === 1;
  }

  /**
   * The error for a call `take` refused. The first refusal of the grant's UTC day is also recorded as
   * 'limit.daily_reached', once however often the app keeps calling: every refused call already has its own api.call
   * row, and the owner needs to hear only that the limit was reached. Never fails for its own sake.
   */
  async refusal(caller: { accountId: string; clientId: string; grantId: string }, limit: number): Promise<AppError> {
    if (this.events) {
      try {
        const { rows } = await this.db.query<{ day: string }>(
          `INSERT INTO policy_usage (grant_id, day, count, refused_at) VALUES ($1, (now() AT TIME ZONE 'utc')::date, 0, now())
           ON CONFLICT (grant_id, day) DO UPDATE SET refused_at = now() WHERE policy_usage.refused_at IS NULL
           RETURNING day::text AS day`,
          [caller.grantId],
        );
        if (rows[0]) {
          await this.events.record({
            kind: 'limit.daily_reached',
            accountId: caller.accountId,
            clientId: caller.clientId,
            grantId: caller.grantId,
            detail: { limit, day: rows[0].day },
          });
        }
      } catch {
        // The refusal stands whether or not it could be noted: the caller gets the same answer either way.
      }
    }
    return dailyLimitReached(limit);
  }

  /** An action that took a slot and then failed upstream did not post: the slot is given back. */
  async giveBack(grantId: string): Promise<void> {
    await this.db.query(
      `UPDATE policy_usage SET count = count - 1 WHERE grant_id = $1 AND day = (now() AT TIME ZONE 'utc')::date AND count > 0`,
      [grantId],
    );
  }
}

import { z } from 'zod';
import type { Database } from '../db/database.js';
import { coalesce } from '../db/coalesce.js';

/**
 * What an owner allows one app (one grant) to do beyond its scopes: a daily limit on posts,
 * content rules, and "hold for my approval". An app with no stored policy gets DEFAULT_POLICY: no limits.
 */
export const Policy = z.object({
  /** Most policy-checked actions (posts, messages) per UTC day; null: no limit. */
  posts_per_day: z.number().int().min(0).max(10_000).nullable().default(null),
  /** Refused when the text contains one of these, case-insensitively, as a whole word or phrase. */
  blocked_words: z.array(z.string().trim().min(1).max(100)).max(200).default([]),
  /** Refused when the text matches one of these regular expressions (case-insensitive). */
  blocked_patterns: z
    .array(
      z
        .string()
        .min(1)
        .max(200)
        .refine((p) => isValidPattern(p), 'must be a valid regular expression'),
    )
    .max(50)
    .default([]),
  no_links: z.boolean().default(false),
  no_mentions: z.boolean().default(false),
  /** Every action waits in the console until the owner approves or rejects it. */
  hold_for_approval: z.boolean().default(false),
  /**
   * Other apps (client ids) this app may hand narrower access to by token exchange (src/provider/token-exchange.ts).
   * Empty: only to itself. The console checks that each is a registered client.
   */
  delegate_to: z.array(z.string().trim().min(1).max(2000).regex(/^\S+$/, 'must be a client id')).max(20).default([]),
});
export type Policy = z.output<typeof Policy>;
export type PolicyInput = z.input<typeof Policy>;

export const DEFAULT_POLICY: Policy = Policy.parse({});

function isValidPattern(pattern: string): boolean {
  try {
    new RegExp(pattern, 'iu');
    return true;
  } catch {
    return false;
  }
}

/** Policies by grant (grant_policies). The grant's owner is stored beside it, so one owner never reads another's. */
export class PolicyStore {
  /** Every resource API write reads its grant's policy: concurrent reads share one round trip (not a cache). */
  private readonly lookup = coalesce(async (grantIds: string[]) => {
    const { rows } = await this.db.query<{ grant_id: string; policy: unknown }>(
      'SELECT grant_id, policy FROM grant_policies WHERE grant_id = ANY($1::text[])',
      [[...new Set(grantIds)]],
    );
    const byGrant = new Map(rows.map((r) => [r.grant_id, r.policy]));
    return grantIds.map((id) => byGrant.get(id));
  });

  constructor(private readonly db: Database) {}

  async get(grantId: string): Promise<Policy> {
    return PolicyStore.fromStored(await this.lookup(grantId));
  }

  /**
   * The grant whose policy and daily limit govern `grantId`: for a grant made by token exchange its chain's root
   * (grant_delegations, src/provider/token-exchange.ts), else itself.
   */
  async governing(grantId: string): Promise<string> {
    const { rows } = await this.db.query<{ root_grant_id: string }>('SELECT root_grant_id FROM grant_delegations WHERE grant_id = $1', [
      grantId,
    ]);
    return rows[0]?.root_grant_id ?? grantId;
  }

  /** A stored policy column (or none) as a Policy: for reads made together with others (the resource API's token read). */
  static fromStored(stored: unknown): Policy {
    return stored === undefined || stored === null ? DEFAULT_POLICY : Policy.parse(stored);
  }

  async set(accountId: string, grantId: string, input: PolicyInput): Promise<Policy> {
    const policy = Policy.parse(input);
    await this.db.query(
      `INSERT INTO grant_policies (grant_id, account_id, policy) VALUES ($1, $2, $3)
       ON CONFLICT (grant_id) DO UPDATE SET policy = EXCLUDED.policy, updated_at = now()
       WHERE grant_policies.account_id = EXCLUDED.account_id`,
      [grantId, accountId, JSON.stringify(policy)],
    );
    return policy;
  }

  /** Actions counted against the grant's limit today (UTC). */
  async usedToday(grantId: string): Promise<number> {
    const { rows } = await this.db.query<{ count: number }>(
      "SELECT count FROM policy_usage WHERE grant_id = $1 AND day = (now() AT TIME ZONE 'utc')::date",
      [grantId],
    );
    return rows[0]?.count ?? 0;
  }

  async remove(grantId: string): Promise<void> {
    await this.db.query('DELETE FROM grant_policies WHERE grant_id = $1', [grantId]);
    await this.db.query('DELETE FROM policy_usage WHERE grant_id = $1', [grantId]);
  }
}

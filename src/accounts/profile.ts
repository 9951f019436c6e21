import { z } from 'zod';
import type { Database } from '../db/database.js';
import { AppError } from '../errors.js';
import type { EventLog } from './events.js';
import { isEthereumAddress } from './wallet-address.js';
import { DisplayName } from './display-name.js';

/** The optional name and contact details an owner may keep on their account. */
export interface Profile {
  display_name: string | null;
  username: string | null;
  email: string | null;
  phone: string | null;
  wallet_address: string | null;
  updated_at: string | null;
}

export const PROFILE_FIELDS = ['display_name', 'username', 'email', 'phone', 'wallet_address'] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];

/** Surrounding spaces are dropped, and an empty value (or null) clears the field. */
const clearable = <T extends z.ZodType<string>>(field: T, normalise: (s: string) => string = (s) => s) =>
  z.preprocess((v) => (typeof v === 'string' ? normalise(v.trim()) || null : v), field.nullable()).optional();

/**
 * What PATCH /console/api/profile and the profile form accept. Absent fields stay as they are. Unknown fields are
 * refused so that a typo ("wallet") does not silently do nothing.
 */
export const ProfilePatch = z.strictObject({
  display_name: DisplayName.optional(),
  username: clearable(
    z
      .string()
      .min(3, 'A username has at least 3 characters.')
      .max(32, 'A username has at most 32 characters.')
      .regex(/^[a-z0-9_.-]+$/i, 'Use only letters, digits, dots, dashes and underscores.'),
  ),
  email: clearable(
    z.string().max(254, 'An email address has at most 254 characters.').pipe(z.email('Enter an email address like name@example.com.')),
  ),
  // Spaces and dashes people type for readability are dropped before checking the E.164 shape.
  phone: clearable(
    z
      .string()
      .max(32, 'Enter the number as + and 8 to 15 digits.')
      .regex(/^\+[1-9]\d{7,14}$/, 'Enter the number as + and 8 to 15 digits, with the country code (E.164).'),
    (s) => s.replace(/[\s-]/g, ''),
  ),
  wallet_address: clearable(
    z
      .string()
      .max(42, 'An Ethereum address is 0x and 40 hex digits.')
      .refine(isEthereumAddress, 'Enter an Ethereum address: 0x and 40 hex digits, all lower case or with a correct EIP-55 checksum.'),
  ),
});
export type ProfilePatch = z.infer<typeof ProfilePatch>;

interface ProfileRow {
  display_name: string | null;
  username: string | null;
  email: string | null;
  phone: string | null;
  wallet_address: string | null;
  updated_at: Date | null;
}

const toProfile = (r: ProfileRow): Profile => ({
  display_name: r.display_name,
  username: r.username,
  email: r.email,
  phone: r.phone,
  wallet_address: r.wallet_address,
  updated_at: r.updated_at && new Date(r.updated_at).toISOString(),
});

const UNIQUE_VIOLATION = '23505';
const usernameTaken = (cause?: unknown) => new AppError('username_taken', 409, 'That username is already taken.', { cause });

/** Reads and changes an owner's profile; every change is written to the owner's access log. */
export class ProfileStore {
  constructor(
    private readonly db: Database,
    private readonly events: EventLog,
  ) {}

  async get(accountId: string): Promise<Profile> {
    const { rows } = await this.db.query<ProfileRow>(
      'SELECT display_name, username, email, phone, wallet_address, updated_at FROM accounts WHERE id = $1',
      [accountId],
    );
    if (!rows[0]) throw new AppError('not_found', 404, 'No such account.');
    return toProfile(rows[0]);
  }

  /** Applies the fields that differ and logs which ones changed (names only: the values stay in the profile). */
  async update(accountId: string, patch: ProfilePatch, ip?: string): Promise<{ profile: Profile; changed: ProfileField[] }> {
    const before = await this.get(accountId);
    const changed = PROFILE_FIELDS.filter((f) => patch[f] !== undefined && patch[f] !== before[f]);
    if (!changed.length) return { profile: before, changed };

    // Usernames are unique whatever their case (the accounts_username index on lower(username)).
    if (changed.includes('username') && patch.username) {
      const { rows } = await this.db.query('SELECT 1 FROM accounts WHERE lower(username) = lower($1) AND id <> $2', [
        patch.username,
        accountId,
      ]);
      if (rows.length) throw usernameTaken();
    }
    const sets = changed.map((f, i) => `${f} = $${i + 2}`).join(', ');
    let rows: ProfileRow[];
    try {
      ({ rows } = await this.db.query<ProfileRow>(
        `UPDATE accounts SET ${sets}, updated_at = now() WHERE id = $1 RETURNING display_name, username, email, phone, wallet_address, updated_at`,
        [accountId, ...changed.map((f) => patch[f] ?? null)],
      ));
    } catch (error) {
      // Two owners claiming one name at the same moment: the index decides, the loser hears it plainly.
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) throw usernameTaken(error);
      throw error;
    }
    await this.events.record({ kind: 'profile.updated', accountId, ip, detail: { fields: changed } });
    return { profile: toProfile(rows[0]!), changed };
  }
}

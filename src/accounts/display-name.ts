import { z } from 'zod';

/**
 * The name an owner goes by on oauth3's pages ("Signed in as Ada"), asked for at sign-up and changed on the profile
 * page. Free text a person would write (any script, spaces inside), so it is never used to find an account: the
 * username is for that. Pages escape it like any other text (src/web/html.ts).
 */
export const DISPLAY_NAME_MAX = 64;

/**
 * Control characters, and the invisible ones that reorder or hide text (bidirectional overrides and isolates, zero-width
 * space, byte order mark): a name reads as it is stored. Joiners stay, for emoji sequences and scripts that need them.
 */
const CONTROL = /[\p{Cc}\u200B\u200E\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/u;

/** Surrounding spaces are dropped and runs of spaces (or line breaks) inside become one space; empty means no name (null). */
export const DisplayName = z.preprocess(
  (v) => (typeof v === 'string' ? v.trim().replace(/\s+/g, ' ') || null : v),
  z
    .string()
    .refine((s) => [...s].length <= DISPLAY_NAME_MAX, `A name has at most ${DISPLAY_NAME_MAX} characters.`)
    .refine((s) => !CONTROL.test(s), 'A name is one line of ordinary characters.')
    .nullable(),
);

/**
 * What pages call the owner: the display name, else the username, else undefined, and then the page speaks of "your
 * account" without naming it. Never the account id.
 */
export function nameOf(account: { displayName: string | null; username: string | null }): string | undefined {
  return account.displayName ?? account.username ?? undefined;
}

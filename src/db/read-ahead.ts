/**
 * Rows one request's statement read ahead for a find the same request makes next. oidc-provider reads a refresh
 * token, then its grant, then its owner (and for a token that ends with its sign-in, the session first), each waiting
 * for the one before; the token's statement can read them all, and the later finds then take what it read instead of
 * waiting for a statement of their own.
 *
 * What is kept belongs to one request (oidc-provider's context of it, `Provider.ctx`) and to its next find of that row
 * alone: another request, code outside a request, and a second find of the same row read the database. So a row
 * taken here is never older than the request that takes it: one deleted or changed before the request began was
 * already so when its own statement read it (docs/architecture.md#storage).
 */
/**
 * What is read ahead today: a token's grant (oidc-provider's row), its owner (`accounts`, as JSON) and, when sessions
 * are stored in the same database, the session it is bound to (by the session's uid).
 */
export const AHEAD = { grants: 'oidc_models:Grant', owners: 'accounts', sessions: 'oidc_models:Session' } as const;

const kept = new WeakMap<object, Map<string, unknown>>();

const keyOf = (table: string, id: string) => `${table}\0${id}`;

/** Keeps `row` of `table` for `request`'s next find of `id`. */
export function keepAhead(request: object, table: string, id: string, row: unknown): void {
  const rows = kept.get(request) ?? new Map<string, unknown>();
  kept.set(request, rows.set(keyOf(table, id), row));
}

/** The row `request` read ahead for this find, once; undefined: read the database. */
export function takeAhead<T>(request: object | undefined, table: string, id: string): T | undefined {
  const rows = request && kept.get(request);
  if (!rows) return undefined;
  const key = keyOf(table, id);
  const row = rows.get(key) as T | undefined;
  rows.delete(key);
  return row;
}

/**
 * A row `request` writes or deletes itself is read from the database after, never from what it read before; without
 * `id`, every row of `table` it read ahead (a deletion that names its row by another key).
 */
export function forgetAhead(request: object | undefined, table: string, id?: string): void {
  const rows = request && kept.get(request);
  if (!rows) return;
  if (id !== undefined) rows.delete(keyOf(table, id));
  else for (const key of rows.keys()) if (key.startsWith(keyOf(table, ''))) rows.delete(key);
}

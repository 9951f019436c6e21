import type { AdapterPayload } from 'oidc-provider';
import type { Database } from '../src/db/database.js';
import { coalesce } from '../src/db/coalesce.js';
import { conflicted, refusedData } from '../src/db/errors.js';

/** One upsert, as jsonb_to_recordset reads it from a batch. */
export interface ModelRow {
  model: string;
  id: string;
  payload: AdapterPayload;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  expires_in: number | null;
}

export interface StoredRow {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

/** What oidc-provider is given for a stored row: the payload, marked consumed when it was. */
export const payloadOf = (row: StoredRow): AdapterPayload =>
  row.consumed_at ? { ...row.payload, consumed: Math.floor(new Date(row.consumed_at).getTime() / 1000) } : row.payload;

/**
 * Rows written together. With `consumes` (an entry's model and storage key), the same statement consumes that entry
 * and stores the rows only if it did: a refresh's new tokens exist only if the token presented was spent by it.
 */
export interface Write {
  rows: ModelRow[];
  consumes?: { model: string; key: string };
}

/** A batch of writes or consumes that collided with another batch over the same rows is tried one call at a time. */
export const retriedAlone = (error: unknown) => refusedData(error) || conflicted(error);

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Upserts a batch's rows, given as JSON: an entry written again gets the new payload and lifetime; when it was consumed
 * stays. The rows of a write that consumes an entry are stored the same way by oauth3_write_models
 * (migrations/020_kept_token_plans.sql), in the statement that consumes it.
 */
const UPSERT = `INSERT INTO oidc_models (model, id, payload, grant_id, user_code, uid, expires_at, consumed_at)
   SELECT r.model, r.id, r.payload, r.grant_id, r.user_code, r.uid,
          CASE WHEN r.expires_in IS NULL THEN NULL ELSE now() + make_interval(secs => r.expires_in) END, NULL
   FROM jsonb_to_recordset($1::jsonb)
     AS r(model text, id text, payload jsonb, grant_id text, user_code text, uid text, expires_in int)
   ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
     user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`;

/** What a find reads ahead beside its entry: always the live grant it names, and its owner or session when asked. */
export interface Ahead {
  /** The owner's `accounts` row. */
  owner: boolean;
  /** The live session the entry ends with (when it does), from this database: sessions are stored here. */
  session: boolean;
}

/** An entry of one model, by its storage key, and what to read ahead with it. */
interface ModelKey {
  model: string;
  key: string;
  ahead?: Ahead;
}

/** A stored payload as text, parsed by whoever takes it. */
export interface StoredText {
  payload: string;
  consumed_at: Date | null;
}

/** An entry found, and what it names that was read with it (src/db/read-ahead.ts). */
interface Found {
  payload: AdapterPayload;
  grant?: StoredText;
  /** The owner's `accounts` row as JSON. */
  owner?: string;
  /** The session the entry ends with, and its storage key. */
  session?: StoredText & { id: string };
}

export const parsed = ({ payload, consumed_at }: StoredText): AdapterPayload =>
  payloadOf({ payload: JSON.parse(payload) as AdapterPayload, consumed_at });

/**
 * The writes and finds by key of every model on one database: those made at the same moment share one statement
 * (src/db/coalesce.ts: not a cache), whatever their model. An introspection looks its token up as an access token, a
 * client-credentials token and a refresh token at once, and a refresh rotation stores a refresh and an access token:
 * one statement each, not one per model.
 */
export class ModelRows {
  /** Resolves false when the write's `consumes` was already consumed (nothing of it stored), else true. */
  readonly write = coalesce((writes: Write[]) => this.writeMany(writes), { isolate: retriedAlone });
  readonly find = coalesce((keys: ModelKey[]) => this.findMany(keys), { isolate: refusedData });

  constructor(private readonly db: Database) {}

  /**
   * A batch of writes in one statement; of two upserts of the same entry the later wins, as it would one after the
   * other. Rows go in one order (model, then key), and so do the entries consumed, so two batches changing the same
   * rows lock them in the same order. Of two writes in a batch consuming the same entry, the first is the one that
   * may consume it; the other is refused, as if its own statement had come second.
   */
  private async writeMany(writes: Write[]): Promise<boolean[]> {
    const claimed = new Set<string>();
    const refused = writes.map(({ consumes }) => {
      if (!consumes) return false;
      const key = `${consumes.model}\0${consumes.key}`;
      // A key with NUL is none the database could have stored (and one it refuses to read).
      if (consumes.key.includes('\0') || claimed.has(key)) return true;
      claimed.add(key);
      return false;
    });
    const rows = writes.flatMap(({ rows, consumes }, i) =>
      refused[i] ? [] : consumes ? rows.map((row) => ({ ...row, consumes_model: consumes.model, consumes_id: consumes.key })) : rows,
    );
    // A stable sort keeps a batch's writes of one entry in their order: the last of each run is the one that stays.
    const sorted = rows.sort((a, b) => compare(a.model, b.model) || compare(a.id, b.id));
    const latest = sorted.filter((row, i) => row.model !== sorted[i + 1]?.model || row.id !== sorted[i + 1]?.id);
    const consumes = writes
      .flatMap(({ consumes }, i) => (consumes && !refused[i] ? [consumes] : []))
      .sort((a, b) => compare(a.model, b.model) || compare(a.key, b.key));
    if (consumes.length === 0) {
      await this.db.query(UPSERT, [JSON.stringify(latest)]);
      return writes.map(() => true);
    }
    // Each entry at most once, only while unused: a key is returned to one statement only; the rows that consume an
    // entry are stored only if it was (migrations/020_kept_token_plans.sql).
    const { rows: spent } = await this.db.query<{ model: string; id: string }>(
      'SELECT model, id FROM oauth3_write_models($1::text[], $2::text[], $3::jsonb)',
      [consumes.map((c) => c.model), consumes.map((c) => c.key), JSON.stringify(latest)],
    );
    const consumed = new Set(spent.map(({ model, id }) => `${model}\0${id}`));
    return writes.map(({ consumes }, i) => !refused[i] && (!consumes || consumed.has(`${consumes.model}\0${consumes.key}`)));
  }

  /**
   * Concurrent finds by storage key (a token presented, its grant) in one statement. The table grows with every token,
   * so the statement's plan is kept only once the table is large (migrations/020_kept_token_plans.sql). For a caller
   * that asks, the live grant an entry names and its owner's row come back from the same statement.
   */
  private async findMany(keys: ModelKey[]): Promise<(Found | undefined)[]> {
    // Each entry once: its model and key at the same place in two arrays.
    const [models, ids, wanted] = [[] as string[], [] as string[], new Map<string, Set<string>>()];
    let [grants, owners, sessions] = [false, false, false];
    for (const key of keys) {
      grants ||= key.ahead !== undefined;
      owners ||= key.ahead?.owner === true;
      sessions ||= key.ahead?.session === true;
      const ofModel = wanted.get(key.model) ?? new Set<string>();
      if (key.key.includes('\0') || ofModel.has(key.key)) continue;
      wanted.set(key.model, ofModel.add(key.key));
      models.push(key.model);
      ids.push(key.key);
    }
    // The payloads as text, parsed once per caller below.
    const { rows } = await this.db.query<
      {
        model: string;
        id: string;
        grant: string | null;
        grant_consumed_at: Date | null;
        owner: string | null;
        session_id: string | null;
        session: string | null;
        session_consumed_at: Date | null;
      } & StoredText
    >('SELECT * FROM oauth3_find_models($1::text[], $2::text[], $3, $4, $5)', [models, ids, grants, owners, sessions]);
    type FoundRow = (typeof rows)[number];
    const found = new Map<string, Map<string, FoundRow>>();
    for (const row of rows) found.set(row.model, (found.get(row.model) ?? new Map<string, FoundRow>()).set(row.id, row));
    // Each caller its own payload, as from a query of its own: oidc-provider keeps and changes what it is given.
    return keys.map(({ model, key, ahead: asked }) => {
      const row = found.get(model)?.get(key);
      if (!row) return undefined;
      const entry: Found = { payload: parsed(row) };
      if (!asked) return entry;
      if (row.grant) entry.grant = { payload: row.grant, consumed_at: row.grant_consumed_at ?? null };
      if (row.owner && asked.owner) entry.owner = row.owner;
      if (row.session && row.session_id && asked.session)
        entry.session = { id: row.session_id, payload: row.session, consumed_at: row.session_consumed_at ?? null };
      return entry;
    });
  }
}

/** One ModelRows per database, shared by the adapters of every model (adapters/postgres.ts). */
const modelRows = new WeakMap<Database, ModelRows>();
export const modelRowsOf = (db: Database): ModelRows => {
  let rows = modelRows.get(db);
  if (!rows) modelRows.set(db, (rows = new ModelRows(db)));
  return rows;
};

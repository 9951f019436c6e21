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
 * The columns an upsert stores, from a batch's rows as JSON (`batch`, a parameter), those with a condition
 * (`where`) only. An entry written again gets the new payload and lifetime; when it was consumed stays.
 */
const UPSERTED_FROM = (batch: string, where = '') =>
  `(model, id, payload, grant_id, user_code, uid, expires_at, consumed_at)
   SELECT r.model, r.id, r.payload, r.grant_id, r.user_code, r.uid,
          CASE WHEN r.expires_in IS NULL THEN NULL ELSE now() + make_interval(secs => r.expires_in) END, NULL
   FROM jsonb_to_recordset(${batch}::jsonb)
     AS r(model text, id text, payload jsonb, grant_id text, user_code text, uid text, expires_in int,
          consumes_model text, consumes_id text)
   ${where}
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
      await this.db.query(`INSERT INTO oidc_models ${UPSERTED_FROM('$1')}`, [JSON.stringify(latest)]);
      return writes.map(() => true);
    }
    // Each entry at most once, only while unused: a key is returned to one statement only. Planned at each run, as
    // the finds (an UPDATE's plan kept from a small table reads a model's every key).
    const consume = `UPDATE oidc_models o SET consumed_at = now()
       FROM unnest($1::text[], $2::text[]) AS c(model, id)
       WHERE o.model = c.model AND o.id = c.id AND o.consumed_at IS NULL
       RETURNING o.model, o.id`;
    const keys = [consumes.map((c) => c.model), consumes.map((c) => c.key)];
    // With rows: every part of a statement sees the table as it was before it, so the rows read the entries consumed
    // from the UPDATE's output, not from the table.
    const { rows: spent } = await this.db.query<{ model: string; id: string }>(
      latest.length === 0
        ? consume
        : `WITH consumed AS (${consume}), stored AS (
             INSERT INTO oidc_models ${UPSERTED_FROM(
               '$3',
               `WHERE r.consumes_id IS NULL
               OR EXISTS (SELECT 1 FROM consumed c WHERE c.model = r.consumes_model AND c.id = r.consumes_id)`,
             )}
           )
           SELECT model, id FROM consumed`,
      latest.length === 0 ? keys : [...keys, JSON.stringify(latest)],
      { prepare: false },
    );
    const consumed = new Set(spent.map(({ model, id }) => `${model}\0${id}`));
    return writes.map(({ consumes }, i) => !refused[i] && (!consumes || consumed.has(`${consumes.model}\0${consumes.key}`)));
  }

  /**
   * Concurrent finds by storage key (a token presented, its grant) in one statement, planned at each run: the table
   * grows with every token, and a plan kept from when a model had few rows reads all of them (src/db/database.ts).
   * For a caller that asks, the live grant an entry names and its owner's row come back from the same statement.
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
    // The payload as text, parsed once per caller below. A batch of one model (most of them, apart from
    // introspection's) needs no join of keys, which costs Postgres more to plan (PGlite: about 300 against 470 µs a
    // statement).
    const single = wanted.size === 1;
    const [from, where] = single
      ? ['oidc_models m', 'm.model = $1 AND m.id = ANY($2::text[]) AND']
      : ['unnest($1::text[], $2::text[]) AS k(model, id) JOIN oidc_models m ON m.model = k.model AND m.id = k.id', ''];
    const live = (table: string) => `(${table}.expires_at IS NULL OR ${table}.expires_at > now())`;
    const { rows } = await this.db.query<
      {
        model: string;
        id: string;
        grant?: string | null;
        grant_consumed_at?: Date | null;
        owner?: string | null;
        session_id?: string | null;
        session?: string | null;
        session_consumed_at?: Date | null;
      } & StoredText
    >(
      grants
        ? `SELECT m.model, m.id, m.payload::text AS payload, m.consumed_at,
                  g.payload::text AS grant, g.consumed_at AS grant_consumed_at,
                  ${owners ? 'row_to_json(a)::text' : 'NULL'} AS owner
                  ${sessions ? ', s.id AS session_id, s.payload::text AS session, s.consumed_at AS session_consumed_at' : ''}
           FROM ${from}
             LEFT JOIN oidc_models g ON g.model = 'Grant' AND g.id = m.grant_id AND ${live('g')}
             ${owners ? `LEFT JOIN accounts a ON a.id = m.payload->>'accountId'` : ''}
             ${
               // One session per uid, as a find by uid returns: the first live one.
               sessions
                 ? `LEFT JOIN LATERAL (SELECT s.id, s.payload, s.consumed_at FROM oidc_models s
                      WHERE m.payload->>'expiresWithSession' = 'true' AND s.model = 'Session'
                        AND s.uid = m.payload->>'sessionUid' AND ${live('s')} LIMIT 1) s ON true`
                 : ''
             }
           WHERE ${where} ${live('m')}`
        : `SELECT m.model, m.id, m.payload::text AS payload, m.consumed_at FROM ${from} WHERE ${where} ${live('m')}`,
      [single ? models[0] : models, ids],
      { prepare: false },
    );
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

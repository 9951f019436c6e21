import Provider, { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Database } from '../src/db/database.js';
import { coalesce } from '../src/db/coalesce.js';
import { refusedData } from '../src/db/errors.js';
import {
  modelRowsOf,
  parsed,
  payloadOf,
  type Ahead,
  type ModelRow,
  type ModelRows,
  type StoredRow,
  type StoredText,
} from './model-rows.js';
import { AtRest, type UserCodes } from './at-rest.js';
import { handleOf } from '../src/db/at-rest-keys.js';
import { AHEAD, forgetAhead, keepAhead, takeAhead } from '../src/db/read-ahead.js';
import { deferConsume, heldRow, heldWrite } from '../src/db/held-writes.js';

const { grants: GRANTS, owners: OWNERS, sessions: SESSIONS } = AHEAD;

/**
 * What oidc-provider reads right after an entry of these models, found inside one of its requests: the session the
 * entry ends with, if it does (a token bound to its sign-in is checked against it), the grant the entry names (a
 * refresh, an introspection, a code or device code redeemed, a token exchange, userinfo), and for the grants redeemed
 * at the token endpoint the owner too (`findAccount`). An introspection finds access tokens and never reads their owner.
 */
const READ_AFTER: Record<string, { owner: boolean } | undefined> = {
  AccessToken: { owner: false },
  RefreshToken: { owner: true },
  AuthorizationCode: { owner: true },
  DeviceCode: { owner: true },
  BackchannelAuthenticationRequest: { owner: true },
};

/**
 * The tokens a token request stores one after the other and never reads back before its answer: their writes are
 * held for the answer (src/db/held-writes.ts), so they share one statement.
 */
const HELD = new Set(['AccessToken', 'RefreshToken']);

/**
 * The model whose consume a token request may defer to its answer, to be sent with the tokens it issues in one
 * statement (src/db/held-writes.ts): a refresh token, which oidc-provider consumes and then replaces. Codes and
 * device codes may live in Redis, apart from the tokens.
 */
const DEFERRED_CONSUME = 'RefreshToken';

const alreadyUsed = () => new errors.InvalidGrant('grant request is invalid (already used)');

/**
 * oidc-provider's storage contract on Postgres (pg or PGlite, same SQL). Each instance serves one model; rows are
 * keyed by (model, id), and the columns beside the JSON payload are the ones lookups use. `id` is the digest of the
 * value oidc-provider hands out, and `user_code` a keyed digest; the payload holds no such value (adapters/at-rest.ts,
 * docs/threat-model.md J2).
 */
export class PostgresAdapter implements Adapter {
  // Concurrent writes and consumes, finds (with every model's: ModelRows) and finds by uid share one statement each.
  private readonly rows: ModelRows;
  private readonly findUids = coalesce((uids: string[]) => this.findManyByUid(uids), { isolate: refusedData });
  private readonly atRest: AtRest;
  /** What a find of this model inside a request reads ahead; undefined: nothing is read after it. */
  private readonly ahead: Ahead | undefined;

  constructor(
    private readonly model: string,
    private readonly db: Database,
    /** The key user codes are digested under (DeviceCode only). */
    userCodes?: UserCodes,
    /** Sessions are stored in this database too (no Redis): a token's find can bring its session. */
    { sessionsHere = false }: { sessionsHere?: boolean } = {},
  ) {
    this.atRest = new AtRest(model, userCodes);
    this.rows = modelRowsOf(db);
    const after = READ_AFTER[model];
    this.ahead = after && { ...after, session: sessionsHere };
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.forgetOwnWrite(id);
    const stored = this.atRest.stored(id, payload);
    const row: ModelRow = {
      model: this.model,
      id: this.atRest.key(id),
      payload: stored,
      grant_id: stored.grantId ?? null,
      user_code: stored.userCode ?? null,
      uid: stored.uid ?? null,
      expires_in: expiresIn ?? null,
    };
    // A token the token endpoint issues is read by nobody before the answer, which waits for it (src/db/held-writes.ts):
    // stored with the refresh token the request consumes, if it deferred that, else on its own.
    const request = HELD.has(this.model) ? Provider.ctx : undefined;
    if (heldRow(request, row)) return;
    const write = this.rows.write({ rows: [row] });
    if (heldWrite(request, write)) return;
    await write;
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    // oidc-provider's context of the request this find is for, if any: what that request's statements read ahead
    // (src/db/read-ahead.ts) is kept for it alone.
    const request = Provider.ctx;
    if (this.model === 'Grant') {
      const grant = takeAhead<StoredText>(request, GRANTS, id);
      if (grant) return this.atRest.restored(parsed(grant), id);
    }
    const found = await this.rows.find({ model: this.model, key: this.atRest.key(id), ahead: request && this.ahead });
    if (!found) return undefined;
    const { grantId, accountId, sessionUid } = found.payload;
    if (request && found.grant && typeof grantId === 'string') keepAhead(request, GRANTS, grantId, found.grant);
    if (request && found.owner && typeof accountId === 'string') keepAhead(request, OWNERS, accountId, found.owner);
    if (request && found.session && typeof sessionUid === 'string') keepAhead(request, SESSIONS, sessionUid, found.session);
    return this.atRest.restored(found.payload, id);
  }

  /**
   * A session by its uid: the caller never had the session's id, so `jti` is a handle (adapters/at-rest.ts). The
   * session a token found in the same request ends with was read with the token (READ_AFTER); other finds share one
   * statement with the concurrent ones.
   */
  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const ahead = this.model === 'Session' ? takeAhead<StoredText & { id: string }>(Provider.ctx, SESSIONS, uid) : undefined;
    const row = ahead ?? (await this.findUids(uid));
    return row && this.atRest.restored(parsed(row), this.handle(row.id));
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const row = await this.findWhere('user_code = ANY($2::text[])', this.atRest.userCodeLookups(userCode));
    return row && this.atRest.restored(payloadOf(row), this.handle(row.id), userCode);
  }

  /**
   * Marks a code or refresh token used. The UPDATE is conditional, so of two parallel redemptions exactly one
   * changes the row; the other is refused as a reused grant (threat model B2, C2). Concurrent consumes share one
   * statement with the writes of the moment (ModelRows.write). A refresh token consumed by a token request is marked
   * with the tokens that replace it, when the request is answered, under the same condition.
   */
  async consume(id: string): Promise<void> {
    const key = this.atRest.key(id);
    if (
      this.model === DEFERRED_CONSUME &&
      deferConsume(Provider.ctx, key, (consumes, rows: ModelRow[]) => this.consumeWith(consumes, rows))
    )
      return;
    await this.consumeWith(key, []);
  }

  async destroy(id: string): Promise<void> {
    this.forgetOwnWrite(id);
    await this.db.query('DELETE FROM oidc_models WHERE model = $1 AND id = $2', [this.model, this.atRest.key(id)]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.query('DELETE FROM oidc_models WHERE model = $1 AND grant_id = $2', [this.model, grantId]);
  }

  /** A consume and the rows that depend on it (none, unless deferred), in one statement: all of it, or nothing and refused. */
  private async consumeWith(key: string, rows: ModelRow[]): Promise<void> {
    if (!(await this.rows.write({ rows, consumes: { model: this.model, key } }))) throw alreadyUsed();
  }

  /**
   * Concurrent finds by uid in one statement, planned at each run (a plan kept from a small table would read a model's
   * every row: QueryOptions). Each caller parses its own payload: oidc-provider changes what it is given.
   */
  private async findManyByUid(uids: string[]): Promise<((StoredText & { id: string }) | undefined)[]> {
    const { rows } = await this.db.query<StoredText & { id: string; uid: string }>(
      `SELECT id, uid, payload::text AS payload, consumed_at FROM oidc_models
       WHERE model = $1 AND uid = ANY($2::text[]) AND (expires_at IS NULL OR expires_at > now())`,
      [this.model, [...new Set(uids)].filter((uid) => !uid.includes('\0'))],
      { prepare: false },
    );
    // One entry per uid, as a find of that uid alone would return (the first row Postgres gives).
    const byUid = new Map<string, StoredText & { id: string }>();
    for (const row of rows) if (!byUid.has(row.uid)) byUid.set(row.uid, row);
    return uids.map((uid) => byUid.get(uid));
  }

  private async findWhere(condition: string, value: string | string[]): Promise<(StoredRow & { id: string }) | undefined> {
    const { rows } = await this.db.query<StoredRow & { id: string }>(
      `SELECT id, payload, consumed_at FROM oidc_models
       WHERE model = $1 AND ${condition} AND (expires_at IS NULL OR expires_at > now())`,
      [this.model, value],
    );
    return rows[0];
  }

  /**
   * A grant or session this request writes or destroys is read from the database after, never from what it read
   * before. Sessions are kept by uid, which a destroy does not name: a request's write of one forgets them all.
   */
  private forgetOwnWrite(id: string): void {
    if (this.model === 'Grant') forgetAhead(Provider.ctx, GRANTS, id);
    if (this.model === 'Session') forgetAhead(Provider.ctx, SESSIONS);
  }

  private handle(key: string): string {
    return this.atRest.plain ? key : handleOf(this.model, key);
  }
}

/**
 * Deletes oidc-provider's rows whose lifetime has passed, and brings rows still in the form before migration 009 to
 * digests (`digestEarlierRows`). The server runs it with the rest of the cleanup (adapters/index.ts deleteExpired).
 */
export async function deleteExpiredModels(db: Database): Promise<number> {
  const { rowCount } = await db.query('DELETE FROM oidc_models WHERE expires_at < now()');
  return rowCount + (await digestEarlierRows(db));
}

/**
 * Rows an oauth3 of an earlier version wrote after migration 009 ran (a replica not yet upgraded, in a rolling
 * upgrade): their key is the value itself and the payload repeats it as `jti`, which our adapters never store outside
 * grants. They get what the migration did to the rows it found: digested in place, except interactions and device codes,
 * which name other entries by value and are deleted. Migration 009's partial index finds them without a scan.
 */
export async function digestEarlierRows(db: Database): Promise<number> {
  const [digested, deleted] = await Promise.all([
    db.query(
      `UPDATE oidc_models
       SET id = oauth3_digest(CASE model WHEN 'ClientCredentials' THEN 'AccessToken' ELSE model END, id), payload = payload - 'jti'
       WHERE model <> 'Grant' AND payload ? 'jti' AND model NOT IN ('Interaction', 'DeviceCode')`,
    ),
    db.query(`DELETE FROM oidc_models WHERE model <> 'Grant' AND payload ? 'jti' AND model IN ('Interaction', 'DeviceCode')`),
  ]);
  return digested.rowCount + deleted.rowCount;
}

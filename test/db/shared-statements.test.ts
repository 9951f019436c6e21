import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { migrate } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/database.js';
import { EventLog } from '../../src/accounts/events.js';
import { AccountStore } from '../../src/accounts/accounts.js';
import { createLogger } from '../../src/logger.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';

/**
 * What every token request writes and reads beside oidc-provider's own rows, the access-log event and the owner's
 * account, is shared by concurrent requests: one statement for all the calls made at the same moment, each caller
 * still getting its own answer, and a value the database refuses failing only its own call.
 */
const databaseUrl = serviceUrl('TEST_DATABASE_URL');
const newId = () => randomBytes(12).toString('base64url');

function sharedStatementCases(open: () => Promise<{ db: Database; close(): Promise<void> }>): void {
  let db: Database;
  let opened: { db: Database; close(): Promise<void> } | undefined;
  const logged: { msg?: string; event?: string }[] = [];
  const logger = createLogger('warn', { write: (line: string) => void logged.push(JSON.parse(line) as never) });

  beforeAll(async () => {
    opened = await open();
    db = opened.db;
    await migrate(db);
  }, 60_000);
  afterAll(async () => {
    await opened?.close();
  });

  it('writes the events recorded at the same moment in one INSERT, each with its own details', async () => {
    const events = new EventLog(db, logger);
    const accountId = newId();
    const sent = db.statementsSent();
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        events.record({
          kind: 'token.refreshed',
          accountId,
          clientId: `app-${i}`,
          grantId: `grant-${i}`,
          ip: '127.0.0.1',
          detail: { n: i },
        }),
      ),
    );
    expect(db.statementsSent() - sent).toBe(1);
    const { rows } = await db.query<{ client_id: string; grant_id: string; detail: { n: number }; outcome: string }>(
      'SELECT client_id, grant_id, detail, outcome FROM events WHERE account_id = $1 ORDER BY id',
      [accountId],
    );
    expect(rows).toHaveLength(30);
    for (const row of rows) {
      const n = row.detail.n;
      expect(row).toEqual({ client_id: `app-${n}`, grant_id: `grant-${n}`, detail: { n }, outcome: 'ok' });
    }
  });

  it('loses no neighbour to an event the database refuses: that one alone is logged as not written', async () => {
    const events = new EventLog(db, logger);
    const accountId = newId();
    await Promise.all([
      events.record({ kind: 'token.minted', accountId, detail: { ok: 1 } }),
      // Postgres keeps no NUL character in text or jsonb.
      events.record({ kind: 'token.minted', accountId, detail: { bad: 'a\u0000b' } }),
      events.record({ kind: 'token.minted', accountId, detail: { ok: 2 } }),
    ]);
    // Retried one by one at the same time, the two may be written in either order.
    const { rows } = await db.query<{ detail: object }>("SELECT detail FROM events WHERE account_id = $1 ORDER BY detail->>'ok'", [
      accountId,
    ]);
    expect(rows.map((r) => r.detail)).toEqual([{ ok: 1 }, { ok: 2 }]);
    expect(logged.filter((line) => line.msg === 'could not write audit event')).toHaveLength(1);
  });

  it('finds the accounts asked for at the same moment in one SELECT, and sees a disabled account at once', async () => {
    const accounts = new AccountStore(db);
    const [alice, bob] = [newId(), newId()];
    await db.query('INSERT INTO accounts (id, display_name) VALUES ($1, $2), ($3, $4)', [alice, 'Alice', bob, 'Bob']);
    const sent = db.statementsSent();
    const found = await Promise.all([alice, bob, newId(), alice, `${alice}\u0000`].map((id) => accounts.find(id)));
    expect(db.statementsSent() - sent).toBe(1);
    expect(found.map((a) => a?.displayName)).toEqual(['Alice', 'Bob', undefined, 'Alice', undefined]);
    // Each caller its own object.
    expect(found[0]).not.toBe(found[3]);
    await db.query('UPDATE accounts SET disabled_at = now() WHERE id = $1', [alice]);
    expect((await accounts.find(alice))?.disabledAt).toBeInstanceOf(Date);
  });
}

describe('statements shared by concurrent requests, on embedded PGlite', () => {
  sharedStatementCases(async () => {
    const db = await createPgliteDatabase(undefined);
    return { db, close: () => db.close() };
  });
});

(databaseUrl ? describe : describe.skip)('statements shared by concurrent requests, on Postgres', () => {
  sharedStatementCases(async () => {
    const schema = await createTestSchema(databaseUrl!);
    const db = createPostgresDatabase({ url: schema.url, poolSize: 4, timeoutMs: 10_000 });
    return {
      db,
      async close() {
        await db.close();
        await schema.drop();
      },
    };
  });
});

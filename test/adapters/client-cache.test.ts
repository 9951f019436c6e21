import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type { Database, Listener } from '../../src/db/database.js';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { migrate } from '../../src/db/migrate.js';
import { ClientAdapter } from '../../adapters/client.js';
import { ClientCache, CLIENT_CHANNEL } from '../../adapters/client-cache.js';
import { type ClientRow } from '../../adapters/clients.js';
import { NO_LIVE_SECRET, hashSecret, newClientSecret } from '../../src/clients/secrets.js';
import { ManualClock, systemClock } from '../../src/clock.js';
import { ClientStore } from '../../src/clients/store.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';

/**
 * The client rows the token endpoint keeps (adapters/client-cache.ts) are kept only while their changes are heard:
 * every change, by any statement on any connection, drops the row; a lost connection drops everything.
 */

const newId = () => randomBytes(8).toString('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** The database with its client lookups counted: a kept row is one no statement was sent for. */
function counting(db: Database): { db: Database; lookups: () => number } {
  let lookups = 0;
  return {
    db: {
      ...db,
      query: (sql, params) => {
        if (/FROM clients c/.test(sql)) lookups++;
        return db.query(sql, params);
      },
    },
    lookups: () => lookups,
  };
}

function cacheCases(name: string, open: () => Promise<{ db: Database; close(): Promise<void> }>): void {
  describe(`client cache on ${name}`, () => {
    let storage: { db: Database; close(): Promise<void> };
    beforeAll(async () => {
      storage = await open();
    });
    afterAll(async () => {
      await storage?.close();
    });

    async function newClient(): Promise<{ clientId: string; digest: string }> {
      const clientId = newId();
      const digest = hashSecret(newClientSecret());
      await storage.db.query('INSERT INTO clients (client_id, metadata) VALUES ($1, $2)', [
        clientId,
        { client_name: 'Cached', grant_types: ['client_credentials'], redirect_uris: [] },
      ]);
      await storage.db.query('INSERT INTO client_secrets (id, client_id, secret_hash) VALUES ($1, $2, $3)', [newId(), clientId, digest]);
      return { clientId, digest };
    }

    async function listeningCache(clock = systemClock) {
      const counted = counting(storage.db);
      const cache = new ClientCache().follow(counted.db);
      await until('the cache listens', () => cache.listening);
      return { cache, adapter: new ClientAdapter(counted.db, clock, cache), lookups: counted.lookups };
    }

    it("forgets a client this process changed at once, before the database's announcement arrives", async () => {
      const { clientId, digest } = await newClient();
      // Listening, but deaf to messages: as if the announcement of the change were still on its way.
      let listener: Listener | undefined;
      const deaf: Database = { ...storage.db, listen: (_channel, l) => ((listener = l), async () => {}) };
      const cache = new ClientCache().follow(deaf);
      listener!.state(true);
      const adapter = new ClientAdapter(storage.db, systemClock, cache);
      const store = new ClientStore(storage.db, systemClock, undefined, (id) => cache.forget(id));
      expect(await adapter.find(clientId)).toMatchObject({ client_secret: digest });

      await store.setDisabled(clientId, true);
      expect(await adapter.find(clientId)).toBeUndefined();
      await store.setDisabled(clientId, false);
      const rotated = await store.secrets().revokeAll(clientId);
      expect(await adapter.find(clientId)).toMatchObject({ client_secret: hashSecret(rotated.clientSecret) });
      await store.remove(clientId);
      expect(await adapter.find(clientId)).toBeUndefined();
    });

    it("forgets a client changed by registration management (RFC 7592) at once, before the database's announcement arrives", async () => {
      const { clientId, digest } = await newClient();
      let listener: Listener | undefined;
      const deaf: Database = { ...storage.db, listen: (_channel, l) => ((listener = l), async () => {}) };
      const cache = new ClientCache().follow(deaf);
      listener!.state(true);
      const adapter = new ClientAdapter(storage.db, systemClock, cache);
      const found = await adapter.find(clientId);
      expect(found).toMatchObject({ client_secret: digest });

      // An update through the adapter (as oidc-provider writes it) is seen by the next lookup.
      await adapter.upsert(clientId, { ...found!, client_name: 'Renamed' });
      expect(await adapter.find(clientId)).toMatchObject({ client_name: 'Renamed' });
      // A deleted client no longer authenticates here, not even for a moment.
      await adapter.destroy(clientId);
      expect(await adapter.find(clientId)).toBeUndefined();
    });

    it('reads a client once while it listens, and again once the client changes', async () => {
      const { clientId, digest } = await newClient();
      const { adapter, lookups } = await listeningCache();
      expect(await adapter.find(clientId)).toMatchObject({ client_id: clientId, client_secret: digest });
      expect(await adapter.find(clientId)).toMatchObject({ client_id: clientId, client_secret: digest });
      expect(lookups()).toBe(1);

      // Disabled by another statement, as the portal or another replica would: not found from the moment it is heard.
      await storage.db.query('UPDATE clients SET disabled_at = now() WHERE client_id = $1', [clientId]);
      await until('the disabled client is not found', async () => (await adapter.find(clientId)) === undefined);
      expect(lookups()).toBeGreaterThan(1);
      await storage.db.query('UPDATE clients SET disabled_at = NULL WHERE client_id = $1', [clientId]);
      await until('the client is found again', async () => (await adapter.find(clientId)) !== undefined);
    });

    it('drops a client whose secret is revoked, rotated or deleted', async () => {
      const { clientId, digest } = await newClient();
      const { adapter } = await listeningCache();
      expect(await adapter.find(clientId)).toMatchObject({ client_secret: digest });
      await storage.db.query('UPDATE client_secrets SET revoked_at = now() WHERE client_id = $1', [clientId]);
      await until('the revoked secret is gone', async () => (await adapter.find(clientId))?.client_secret === NO_LIVE_SECRET);

      const fresh = hashSecret(newClientSecret());
      await storage.db.query('INSERT INTO client_secrets (id, client_id, secret_hash) VALUES ($1, $2, $3)', [newId(), clientId, fresh]);
      await until('the new secret is live', async () => (await adapter.find(clientId))?.client_secret === fresh);

      await storage.db.query('DELETE FROM clients WHERE client_id = $1', [clientId]);
      await until('the deleted client is gone', async () => (await adapter.find(clientId)) === undefined);
    });

    it('ends a grace period at its time, with nothing changed in the database', async () => {
      const { clientId, digest } = await newClient();
      const clock = new ManualClock();
      const next = hashSecret(newClientSecret());
      await storage.db.query(
        "INSERT INTO client_secrets (id, client_id, secret_hash, created_at) VALUES ($1, $2, $3, now() + interval '1 second')",
        [newId(), clientId, next],
      );
      await storage.db.query('UPDATE client_secrets SET expires_at = $2 WHERE client_id = $1 AND secret_hash = $3', [
        clientId,
        new Date(clock.now().getTime() + 3_600_000),
        digest,
      ]);
      const { adapter, lookups } = await listeningCache(clock);
      expect(await adapter.find(clientId)).toMatchObject({ client_secret: `${next} ${digest}` });
      clock.advance(3_600_001);
      expect(await adapter.find(clientId)).toMatchObject({ client_secret: next });
      expect(lookups()).toBe(1);
    });

    it('keeps nothing it does not know, and nothing once the subscription ends', async () => {
      const { clientId } = await newClient();
      const counted = counting(storage.db);
      const cache = new ClientCache();
      const adapter = new ClientAdapter(counted.db, systemClock, cache);
      // Not listening yet: every lookup reads.
      await adapter.find(clientId);
      await adapter.find(clientId);
      expect(counted.lookups()).toBe(2);
      cache.follow(counted.db);
      await until('the cache listens', () => cache.listening);
      const unknown = newId();
      await adapter.find(unknown);
      await adapter.find(unknown);
      expect(counted.lookups()).toBe(4);
    });
  });
}

cacheCases('PGlite', async () => {
  const db = await createPgliteDatabase(undefined);
  await migrate(db);
  return { db, close: () => db.close() };
});

const databaseUrl = serviceUrl('TEST_DATABASE_URL');
(databaseUrl ? describe : describe.skip)('Postgres', () => {
  cacheCases('Postgres', async () => {
    const schema = await createTestSchema(databaseUrl!);
    const db = createPostgresDatabase({ url: schema.url, poolSize: 3, timeoutMs: 10_000 });
    await migrate(db);
    return {
      db,
      async close() {
        await db.close();
        await schema.drop();
      },
    };
  });

  it('listens again after its connection is cut, and hears nothing stale meanwhile', async () => {
    const schema = await createTestSchema(databaseUrl!);
    const db = createPostgresDatabase({ url: schema.url, poolSize: 2, timeoutMs: 10_000 });
    const states: boolean[] = [];
    const heard: string[] = [];
    try {
      await migrate(db);
      const marker = `app_${newId()}`;
      // A listener of its own, told apart from other test files' by the notifications it hears.
      db.listen(CLIENT_CHANNEL, { message: (p) => heard.push(p), state: (s) => states.push(s) });
      await until('listening', () => states.at(-1) === true);
      await db.query(`SELECT pg_notify('${CLIENT_CHANNEL}', $1)`, [marker]);
      await until('the notification is heard', () => heard.includes(marker));
      // Cut every listening connection on this channel: each one's owner must notice and come back.
      await db.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN ${CLIENT_CHANNEL}' AND datname = current_database()`,
      );
      await until('the loss is reported', () => states.includes(false));
      await until('listening again', () => states.at(-1) === true, 15_000);
      await db.query(`SELECT pg_notify('${CLIENT_CHANNEL}', $1)`, [`${marker}-again`]);
      await until('notifications arrive again', () => heard.includes(`${marker}-again`));
    } finally {
      await db.close();
      await schema.drop();
    }
    // Closing the database ended the subscription.
    expect(states.at(-1)).toBe(false);
  }, 30_000);
});

describe('client cache bookkeeping', () => {
  /** A database whose LISTEN the test drives by hand. */
  function manual(): { db: Database; listener: () => Listener } {
    let listener: Listener | undefined;
    const db = { listen: (_channel: string, l: Listener) => ((listener = l), async () => {}) } as unknown as Database;
    return { db, listener: () => listener! };
  }
  const row = (clientId: string): ClientRow => ({ client_id: clientId, metadata: {}, secrets: null, created_at: new Date() });

  it('does not keep an answer to a lookup that began before a change was heard', () => {
    const { db, listener } = manual();
    const cache = new ClientCache().follow(db);
    listener().state(true);
    const since = cache.begin();
    listener().message('a');
    cache.keep([row('a')], since);
    expect(cache.get('a')).toBeUndefined();
    const after = cache.begin();
    const found = row('a');
    cache.keep([found], after);
    // The very row kept (a second row('a') could be made a millisecond later and differ in created_at).
    expect(cache.get('a')).toBe(found);
  });

  it('drops everything when listening stops, and keeps nothing until it starts again', () => {
    const { db, listener } = manual();
    const cache = new ClientCache().follow(db);
    listener().state(true);
    cache.keep([row('a'), row('b')], cache.begin());
    expect(cache.get('b')).toBeDefined();
    listener().state(false);
    expect([cache.get('a'), cache.get('b')]).toEqual([undefined, undefined]);
    cache.keep([row('a')], cache.begin());
    expect(cache.get('a')).toBeUndefined();
  });

  it('keeps a row no longer than a minute even when no change is heard', () => {
    let now = 0;
    const { db, listener } = manual();
    const cache = new ClientCache(() => now).follow(db);
    listener().state(true);
    cache.keep([row('a')], cache.begin());
    now = 59_000;
    expect(cache.get('a')).toBeDefined();
    now = 61_000;
    expect(cache.get('a')).toBeUndefined();
  });
});

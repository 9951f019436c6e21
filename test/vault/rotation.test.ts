import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/open.js';
import type { Database } from '../../src/db/database.js';
import { createLogger } from '../../src/logger.js';
import { loadMasterKeys } from '../../src/keys/master-key.js';
import { loadCookieKeys, loadSigningKeys } from '../../src/keys/keystore.js';
import { SealError, type MasterKeyRing } from '../../src/keys/sealing.js';
import { ConnectionStore, type Connection } from '../../src/connections/store.js';
import { Vault } from '../../src/vault/vault.js';
import { AuthRequests } from '../../src/upstream/auth-requests.js';
import { beginDevKeyRotation } from '../../src/cli/dev-master-key.js';
import { rewrapAll } from '../../src/cli/rotate-master.js';
import { runCommand, type CliRun } from '../helpers/cli.js';

const silent = createLogger('silent');
const newKey = () => randomBytes(32).toString('base64url');

interface Seeded {
  connection: Connection;
  victim: Connection;
  secret: string;
  state: string;
  signing: string[];
  cookies: string[];
}

/** Opens the embedded database of `env`, runs `fn`, closes it (so the CLI can take the data directory next). */
async function withDb<T>(env: Record<string, string>, fn: (db: Database, ring: MasterKeyRing) => Promise<T>): Promise<T> {
  const config = loadConfig(env);
  const db = await openDatabase(config, 'rotation test');
  try {
    return await fn(db, loadMasterKeys(config, silent));
  } finally {
    await db.close();
  }
}

const cli = (env: Record<string, string>, ...argv: string[]): Promise<CliRun> => runCommand(argv, env);

/** Two owners with a connected account each, a connect in progress, and the signing and cookie keys. */
async function seed(db: Database, ring: MasterKeyRing): Promise<Seeded> {
  const store = new ConnectionStore(db, new Vault(ring));
  const secret = `auth_token_${randomBytes(12).toString('hex')}`;
  await db.query("INSERT INTO accounts (id) VALUES ('acct_owner'), ('acct_victim')");
  const connection = await store.save('acct_owner', { provider: 'x', kind: 'x.cookie', label: '@owner', secret: { auth_token: secret } });
  const victim = await store.save('acct_victim', {
    provider: 'x',
    kind: 'x.cookie',
    label: '@victim',
    secret: { auth_token: 'victim-secret-value' },
  });
  const state = await new AuthRequests(db, new Vault(ring)).create({
    accountId: 'acct_owner',
    provider: 'fakeoauth',
    verifier: `verifier_${secret}`,
  });
  const signing = (await loadSigningKeys(db, ring)).map((k) => JSON.stringify(k));
  const cookies = await loadCookieKeys(db, ring);
  return { connection, victim, secret, state, signing, cookies };
}

/** Everything the seeded data must still be after a rotation, opened with `ring` alone. */
async function expectAllOpen(db: Database, ring: MasterKeyRing, seeded: Seeded) {
  const store = new ConnectionStore(db, new Vault(ring));
  expect(await store.secret(seeded.connection)).toEqual({ auth_token: seeded.secret });
  expect((await loadSigningKeys(db, ring)).map((k) => JSON.stringify(k))).toEqual(seeded.signing);
  expect(await loadCookieKeys(db, ring)).toEqual(seeded.cookies);
  expect(await new AuthRequests(db, new Vault(ring)).take(seeded.state, 'acct_owner')).toMatchObject({
    verifier: `verifier_${seeded.secret}`,
  });
}

describe('the vault at rest (threat model G4)', () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-vault-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  describe('with MASTER_KEY and MASTER_KEY_PREVIOUS', () => {
    const oldKey = newKey();
    const nextKey = newKey();
    let env: Record<string, string>;
    let seeded: Seeded;

    beforeAll(async () => {
      env = { NODE_ENV: 'test', DATA_DIR: tempDir(), LOG_LEVEL: 'silent', MASTER_KEY: oldKey };
      seeded = await withDb(env, seed);
    });

    it('stores credentials as ciphertext: the secret is in no column of any row', async () => {
      await withDb(env, async (db) => {
        for (const table of ['connections', 'upstream_auth_requests', 'keys']) {
          const { rows } = await db.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM ${table} t`);
          expect(rows.length).toBeGreaterThan(0);
          for (const { row } of rows) expect(row).not.toContain(seeded.secret);
        }
        const { rows } = await db.query<{ sealed: string }>('SELECT sealed FROM connections WHERE id = $1', [seeded.connection.id]);
        expect(rows[0]!.sealed).toMatch(/^v1\./);
      });
    });

    it("refuses to open a ciphertext copied into another owner's row", async () => {
      await withDb(env, async (db, ring) => {
        const store = new ConnectionStore(db, new Vault(ring));
        const { rows } = await db.query<{ sealed: string }>('SELECT sealed FROM connections WHERE id = $1', [seeded.connection.id]);
        await db.query('UPDATE connections SET sealed = $2 WHERE id = $1', [seeded.victim.id, rows[0]!.sealed]);
        try {
          await expect(store.secret(seeded.victim)).rejects.toBeInstanceOf(SealError);
        } finally {
          await db.query('DELETE FROM connections WHERE id = $1', [seeded.victim.id]);
        }
      });
    });

    it('re-wraps every sealed value under the new key, and a second run finds nothing left to do', async () => {
      const rotated = { ...env, MASTER_KEY: nextKey, MASTER_KEY_PREVIOUS: oldKey };
      const first = await cli(rotated, 'keys', 'rotate-master');
      expect(first).toMatchObject({ code: 0, err: '' });
      expect(first.out).toContain('connections: 1 re-wrapped, 0 already under the current key');
      expect(first.out).toContain('upstream_auth_requests: 1 re-wrapped');
      expect(first.out).toContain('keys: 3 re-wrapped'); // ES256 + RS256 signing keys and the cookie key
      const second = await cli(rotated, 'keys', 'rotate-master');
      expect(second).toMatchObject({ code: 0, err: '' });
      expect(second.out).toContain('connections: 0 re-wrapped, 1 already under the current key');
      expect(second.out).toContain('keys: 0 re-wrapped, 3 already under the current key');
    });

    it('opens every connection, signing key and cookie key with the new key alone once the old one is removed', async () => {
      await withDb({ ...env, MASTER_KEY: nextKey }, (db, ring) => expectAllOpen(db, ring, seeded));
    });

    it('no longer opens anything with the old key', async () => {
      await withDb(env, async (db, ring) => {
        await expect(loadCookieKeys(db, ring)).rejects.toBeInstanceOf(SealError);
      });
    });

    it('reports values it cannot open instead of skipping them silently', async () => {
      const third = { ...env, MASTER_KEY: newKey() };
      const run = await cli(third, 'keys', 'rotate-master');
      expect(run.code).toBe(1);
      expect(run.err).toMatch(/keys: 3 value\(s\) could not be opened/);
      expect(run.err).not.toContain(seeded.secret);
    });

    it('refuses --generate when MASTER_KEY is set', async () => {
      const run = await cli({ ...env, MASTER_KEY: nextKey }, 'keys', 'rotate-master', '--generate');
      expect(run.code).toBe(64);
      expect(run.err).toMatch(/MASTER_KEY_PREVIOUS/);
    });
  });

  describe('with the development key file (--generate)', () => {
    let env: Record<string, string>;
    let seeded: Seeded;
    let files: { current: string; next: string; previous: string };

    beforeAll(async () => {
      const dataDir = tempDir();
      env = { NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
      files = {
        current: path.join(dataDir, 'master.key'),
        next: path.join(dataDir, 'master.key.next'),
        previous: path.join(dataDir, 'master.key.previous'),
      };
      seeded = await withDb(env, seed);
    });

    it('makes a new master.key, keeps the old key in master.key.previous, and re-wraps everything', async () => {
      const before = readFileSync(files.current, 'utf8');
      const run = await cli(env, 'keys', 'rotate-master', '--generate');
      expect(run).toMatchObject({ code: 0, err: '' });
      expect(run.out).toContain('connections: 2 re-wrapped');
      expect(readFileSync(files.current, 'utf8')).not.toBe(before);
      expect(readFileSync(files.previous, 'utf8')).toBe(before);
      expect(existsSync(files.next)).toBe(false);
      // The old key file can go: the new key alone opens everything.
      unlinkSync(files.previous);
      await withDb(env, (db, ring) => expectAllOpen(db, ring, seeded));
    });

    it('survives a crash in the middle: everything still opens, and running again finishes with the same new key', async () => {
      // Crash after the re-wrap, before master.key was replaced: the new key is only in master.key.next.
      await withDb(env, async (db) => {
        const rotation = beginDevKeyRotation(env.DATA_DIR!, []);
        await rewrapAll(db, rotation.ring);
      });
      const pending = readFileSync(files.next, 'utf8');
      await withDb(env, async (db, ring) => {
        expect(await new ConnectionStore(db, new Vault(ring)).secret(seeded.connection)).toEqual({ auth_token: seeded.secret });
        expect(await loadCookieKeys(db, ring)).toEqual(seeded.cookies);
      });
      const run = await cli(env, 'keys', 'rotate-master', '--generate');
      expect(run).toMatchObject({ code: 0, err: '' });
      expect(run.out).toContain('connections: 0 re-wrapped, 2 already under the current key');
      expect(readFileSync(files.current, 'utf8')).toBe(pending);
      unlinkSync(files.previous);
      await withDb(env, async (db, ring) => {
        expect(ring.byId.size).toBe(1);
        expect(await loadCookieKeys(db, ring)).toEqual(seeded.cookies);
      });
    });
  });
});

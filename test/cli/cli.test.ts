import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/open.js';
import { hashSecret } from '../../src/clients/secrets.js';
import { startTestServer } from '../helpers/server.js';
import { runCommand, type CliRun } from '../helpers/cli.js';

/** A client as `--json` prints it: the text output's field names. */
interface ListedClient {
  client_id: string;
  client_secret?: string;
  name: string;
  public: boolean;
  redirect_uris: string[];
  grant_types: string[];
  scope?: string;
  resource_server: boolean;
  created_at: string;
}

/** POST /token with client_credentials and HTTP Basic client authentication (RFC 6749 §2.3.1, §4.4). */
function clientCredentials(issuer: string, clientId: string, secret: string): Promise<Response> {
  return fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'tweet.read' }),
  });
}

/** Every file under `dir`, recursively (the embedded database's files included). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : entry.isFile() ? [full] : [];
  });
}

describe('the admin CLI (npm run oauth3)', () => {
  let dataDir: string;
  let env: Record<string, string>;

  const cli = (...argv: string[]): Promise<CliRun> => runCommand(argv, env);

  async function listed(): Promise<ListedClient[]> {
    const run = await cli('clients', 'list', '--json');
    expect(run).toMatchObject({ code: 0, err: '' });
    return JSON.parse(run.out) as ListedClient[];
  }

  /** Reads rows straight from the embedded database, between CLI runs (the CLI has released its lock). */
  async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const db = await openDatabase(loadConfig(env), 'cli test');
    try {
      return (await db.query<T & Record<string, unknown>>(sql, params)).rows;
    } finally {
      await db.close();
    }
  }

  beforeAll(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-cli-'));
    env = { NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  let app: { clientId: string; clientSecret: string };

  describe('clients add', () => {
    it('prints the client id and secret once, and stores only a sha256 digest of the secret', async () => {
      const run = await cli(
        'clients',
        'add',
        '--name',
        'Agent app',
        '--redirect-uri',
        'https://app.example/callback',
        '--redirect-uri',
        'http://127.0.0.1:8765/cb',
        '--json',
      );
      expect(run).toMatchObject({ code: 0, err: '' });
      const printed = JSON.parse(run.out) as ListedClient & { client_secret: string };
      expect(printed).toMatchObject({
        client_id: expect.stringMatching(/^c_/),
        client_secret: expect.any(String),
        name: 'Agent app',
        public: false,
        redirect_uris: ['https://app.example/callback', 'http://127.0.0.1:8765/cb'],
        grant_types: ['authorization_code', 'refresh_token'],
      });
      expect(printed.client_secret.length).toBeGreaterThanOrEqual(43);
      expect(run.out.split(printed.client_secret)).toHaveLength(2);
      app = { clientId: printed.client_id, clientSecret: printed.client_secret };

      // Secrets live in client_secrets since migration 006, one row per secret.
      const rows = await query<{ client_id: string; metadata: unknown; secret_hash: string }>(
        'SELECT c.*, s.secret_hash FROM clients c JOIN client_secrets s USING (client_id) WHERE client_id = $1',
        [app.clientId],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]!.secret_hash).toBe(hashSecret(app.clientSecret));
      expect(rows[0]!.secret_hash).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
      expect(JSON.stringify(rows)).not.toContain(app.clientSecret);
      // Not in any row, and not anywhere on disk: the secret never reached the database.
      for (const file of filesUnder(dataDir)) expect(readFileSync(file).includes(app.clientSecret)).toBe(false);
    });

    it('prints the secret once in the human-readable form too, with a warning to store it', async () => {
      const run = await cli('clients', 'add', '--name', 'Readable app', '--redirect-uri', 'https://readable.example/cb');
      expect(run.code).toBe(0);
      const id = /client_id:\s+(\S+)/.exec(run.out)![1]!;
      const secret = /client_secret:\s+(\S+)/.exec(run.out)![1]!;
      expect(run.out.split(secret)).toHaveLength(2);
      expect(run.out).toMatch(/cannot be shown again/);
      expect(
        (await query<{ secret_hash: string }>('SELECT secret_hash FROM client_secrets WHERE client_id = $1', [id]))[0]!.secret_hash,
      ).toBe(hashSecret(secret));
    });

    it('creates a public client without any secret', async () => {
      const run = await cli('clients', 'add', '--name', 'Native app', '--public', '--redirect-uri', 'com.example.app:/callback', '--json');
      expect(run.code).toBe(0);
      const printed = JSON.parse(run.out) as ListedClient;
      expect(printed.public).toBe(true);
      expect(printed.client_secret).toBeUndefined();
      expect(await query('SELECT secret_hash FROM client_secrets WHERE client_id = $1', [printed.client_id])).toEqual([]);
    });

    it.each([
      ['no --name', ['--redirect-uri', 'https://app.example/cb'], '--name'],
      ['a blank --name', ['--name', '   ', '--redirect-uri', 'https://app.example/cb'], '--name'],
      ['no --redirect-uri for an app that signs owners in', ['--name', 'X'], '--redirect-uri'],
      ['an http redirect URI off loopback', ['--name', 'X', '--redirect-uri', 'http://app.example/cb'], '--redirect-uri'],
      ['a javascript: redirect URI', ['--name', 'X', '--redirect-uri', 'javascript:alert(1)'], '--redirect-uri'],
      ['a data: redirect URI', ['--name', 'X', '--redirect-uri', 'data:text/html,hi'], '--redirect-uri'],
      ['a redirect URI with a fragment', ['--name', 'X', '--redirect-uri', 'https://app.example/cb#frag'], '--redirect-uri'],
      ['an empty fragment', ['--name', 'X', '--redirect-uri', 'https://app.example/cb#'], '--redirect-uri'],
      ['a wildcard redirect URI', ['--name', 'X', '--redirect-uri', 'https://*.app.example/cb'], '--redirect-uri'],
      [
        'one bad URI among good ones',
        ['--name', 'X', '--redirect-uri', 'https://app.example/cb', '--redirect-uri', 'http://evil.example/cb'],
        '--redirect-uri',
      ],
      ['an unknown grant', ['--name', 'X', '--redirect-uri', 'https://app.example/cb', '--grant', 'password'], '--grant'],
      ['client_credentials for a public client', ['--name', 'X', '--public', '--grant', 'client_credentials'], '--grant'],
      ['an unknown scope', ['--name', 'X', '--redirect-uri', 'https://app.example/cb', '--scope', 'openid admin.everything'], '--scope'],
      [
        'a non-https logo',
        ['--name', 'X', '--redirect-uri', 'https://app.example/cb', '--logo-uri', 'http://app.example/logo.png'],
        '--logo-uri',
      ],
    ])('refuses %s, naming the flag', async (_case, args, flag) => {
      const run = await cli('clients', 'add', ...args, '--json');
      expect(run.code).not.toBe(0);
      expect(run.out).toBe('');
      // The message starts a line with the flag exactly as typed, then says what is wrong.
      expect(run.err).toMatch(new RegExp(`(^|\\n)${flag}( is required)?: \\S`));
    });
  });

  describe('clients list', () => {
    // Also shows that none of the refused `clients add` above created anything.
    it('lists the clients without any secret or digest', async () => {
      const run = await cli('clients', 'list', '--json');
      expect(run.code).toBe(0);
      const list = JSON.parse(run.out) as ListedClient[];
      expect(list.map((c) => c.name)).toEqual(['Agent app', 'Readable app', 'Native app']);
      expect(list[0]).toMatchObject({
        client_id: app.clientId,
        public: false,
        redirect_uris: ['https://app.example/callback', 'http://127.0.0.1:8765/cb'],
      });
      expect(run.out).not.toContain(app.clientSecret);
      expect(run.out).not.toMatch(/sha256:|secret/i);

      const text = await cli('clients', 'list');
      expect(text.code).toBe(0);
      expect(text.out).toContain(app.clientId);
      expect(text.out).not.toContain(app.clientSecret);
      expect(text.out).not.toMatch(/sha256:/);
    });
  });

  describe('clients remove', () => {
    it('removes a client', async () => {
      const { client_id: clientId } = (await listed()).find((c) => c.name === 'Readable app')!;
      const run = await cli('clients', 'remove', clientId);
      expect(run.code).toBe(0);
      expect(run.out).toContain(clientId);
      expect((await listed()).map((c) => c.client_id)).not.toContain(clientId);
      expect(await query('SELECT 1 FROM clients WHERE client_id = $1', [clientId])).toHaveLength(0);
    });

    it('exits 1 for an unknown client id and removes nothing', async () => {
      const before = await listed();
      const run = await cli('clients', 'remove', 'c_doesnotexist');
      expect(run.code).toBe(1);
      expect(run.err).toContain('c_doesnotexist');
      expect(await listed()).toEqual(before);
    });

    it('exits non-zero without a client id', async () => {
      const run = await cli('clients', 'remove');
      expect(run.code).not.toBe(0);
      expect(run.err).toMatch(/CLIENT_ID/);
    });
  });

  describe('keys rotate', () => {
    it('adds an ES256 and an RS256 signing key and retires the previous ones, which stay published for a while', async () => {
      const first = await cli('keys', 'rotate');
      expect(first.code).toBe(0);
      const before = await query<{ kid: string; alg: string; retired_at: Date | null }>(
        `SELECT kid, alg, retired_at FROM keys WHERE use = 'sig'`,
      );
      expect(
        before
          .filter((k) => !k.retired_at)
          .map((k) => k.alg)
          .sort(),
      ).toEqual(['ES256', 'RS256']);

      const second = await cli('keys', 'rotate');
      expect(second.code).toBe(0);
      const after = await query<{ kid: string; alg: string; retired_at: Date | null; remove_after: Date | null }>(
        `SELECT kid, alg, retired_at, remove_after FROM keys WHERE use = 'sig'`,
      );
      expect(after).toHaveLength(before.length + 2);
      const active = after.filter((k) => !k.retired_at);
      expect(active.map((k) => k.alg).sort()).toEqual(['ES256', 'RS256']);
      for (const key of active) {
        expect(before.map((k) => k.kid)).not.toContain(key.kid);
        expect(second.out).toContain(key.kid);
      }
      for (const old of before.filter((k) => !k.retired_at)) {
        const now = after.find((k) => k.kid === old.kid)!;
        expect(now.retired_at).not.toBeNull();
        expect(new Date(now.remove_after!).getTime()).toBeGreaterThan(Date.now());
      }
    });
  });

  describe('while another process holds the embedded database', () => {
    it('exits 75 naming the process that holds it, and corrupts nothing', async () => {
      const before = await listed();
      // A holder with no admin socket (a long `migrate`, a maintenance script): the CLI cannot hand its command over.
      const holder = await openDatabase(loadConfig(env), 'maintenance script');
      try {
        for (const argv of [
          ['clients', 'list'],
          ['clients', 'add', '--name', 'Sneaky', '--redirect-uri', 'https://sneaky.example/cb'],
          ['keys', 'rotate'],
        ]) {
          const run = await cli(...argv);
          expect(run.code).toBe(75);
          expect(run.out).toBe('');
          expect(run.err).toContain(`in use by process ${process.pid} (maintenance script)`);
          expect(run.err).toContain(dataDir);
          expect(run.err).toMatch(/DATABASE_URL/);
        }
        // The holder's connection is unharmed by the attempts.
        expect((await holder.query<{ n: number }>('SELECT count(*)::int AS n FROM clients')).rows[0]!.n).toBe(before.length);
      } finally {
        await holder.close();
      }
      expect(statSync(path.join(dataDir, 'pgdata')).isDirectory()).toBe(true);
      expect(await listed()).toEqual(before);
    });

    it('takes over a lock left behind by a process that died', async () => {
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
      const deadPid = Number(dead.stdout);
      expect(deadPid).toBeGreaterThan(0);
      writeFileSync(
        path.join(dataDir, 'oauth3.lock'),
        JSON.stringify({ pid: deadPid, purpose: 'oauth3 server', since: new Date().toISOString() }),
      );
      const run = await cli('clients', 'list', '--json');
      expect(run).toMatchObject({ code: 0, err: '' });
      expect(existsSync(path.join(dataDir, 'oauth3.lock'))).toBe(false);
    });
  });

  describe('while a server holds the embedded database', () => {
    it('hands the command to the server, whose database stays consistent after it stops', async () => {
      const before = await listed();
      const server = await startTestServer({ storage: { dataDir } });
      let added: { clientId: string; clientSecret: string };
      try {
        const list = await cli('clients', 'list', '--json');
        expect(list).toMatchObject({ code: 0, err: '' });
        expect(JSON.parse(list.out)).toEqual(before);

        const add = await cli(
          'clients',
          'add',
          '--name',
          'Live service',
          '--grant',
          'client_credentials',
          '--scope',
          'tweet.read',
          '--json',
        );
        expect(add).toMatchObject({ code: 0, err: '' });
        const printed = JSON.parse(add.out) as { client_id: string; client_secret: string };
        added = { clientId: printed.client_id, clientSecret: printed.client_secret };
        // The running server knows the new client at once.
        const res = await clientCredentials(server.url, added.clientId, added.clientSecret);
        expect(res.status).toBe(200);

        const bad = await cli('clients', 'add', '--name', 'X', '--redirect-uri', 'http://evil.example/cb');
        expect(bad.code).toBe(65);
        expect(bad.err).toMatch(/(^|\n)--redirect-uri: \S/);
        // Secrets never land in the server's log.
        expect(server.logs.join('')).not.toContain(added.clientSecret);
      } finally {
        await server.stop();
      }
      expect(existsSync(path.join(dataDir, 'admin.sock'))).toBe(false);
      const after = await listed();
      expect(after.map((c) => c.client_id)).toEqual([...before.map((c) => c.client_id), added!.clientId]);
      const rows = await query<{ secret_hash: string }>('SELECT secret_hash FROM client_secrets WHERE client_id = $1', [added!.clientId]);
      expect(rows[0]!.secret_hash).toBe(hashSecret(added!.clientSecret));
    });
  });

  describe('a client added by the CLI', () => {
    it('gets an access token with client_credentials from a server started afterwards', async () => {
      const run = await cli('clients', 'add', '--name', 'Service', '--grant', 'client_credentials', '--scope', 'tweet.read', '--json');
      expect(run.code).toBe(0);
      const { client_id: clientId, client_secret: clientSecret } = JSON.parse(run.out) as { client_id: string; client_secret: string };

      const server = await startTestServer({ storage: { dataDir } });
      try {
        const token = (secret: string) => clientCredentials(server.url, clientId, secret);
        const res = await token(clientSecret);
        expect(res.status).toBe(200);
        expect(res.headers.get('cache-control')).toMatch(/no-store/);
        const body = (await res.json()) as { access_token: string; token_type: string; scope: string };
        expect(body).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer', scope: 'tweet.read' });

        const wrong = await token(clientSecret.slice(0, -1) + (clientSecret.endsWith('A') ? 'B' : 'A'));
        expect(wrong.status).toBe(401);
        expect(await wrong.json()).toMatchObject({ error: 'invalid_client' });
      } finally {
        await server.stop();
      }
    });
  });
});

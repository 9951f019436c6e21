import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/server.js';
import { serviceUrl } from '../helpers/services.js';
import { seedEmbeddedDatabase } from '../helpers/pglite-template.js';
import { runCommand, type CliRun } from '../helpers/cli.js';

/** The admin command line's refusals are sentences a person can act on, and `--json` speaks the text's field names. */

const cli = (env: Record<string, string>, ...argv: string[]): Promise<CliRun> =>
  runCommand(argv, { LOG_LEVEL: 'silent', NODE_ENV: 'test', ...env });

describe('a database that cannot be reached', () => {
  it('is one line naming host and port when nothing listens there', async () => {
    const port = await freePort();
    const run = await cli({ DATABASE_URL: `postgres://postgres:secret@127.0.0.1:${port}/oauth3` }, 'clients', 'list');
    expect(run).toEqual({
      code: 69,
      out: '',
      err: `Cannot reach the database at 127.0.0.1:${port} (connection refused): is Postgres running? Check DATABASE_URL.`,
    });
  });

  it('is one line when the address answers nothing within DATABASE_TIMEOUT_MS', async () => {
    const silent = net.createServer((socket) => socket.on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const run = await cli({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/oauth3`, DATABASE_TIMEOUT_MS: '500' }, 'migrate');
      expect(run.code).toBe(69);
      expect(run.err).toBe(
        `Cannot reach the database at 127.0.0.1:${port} (no answer within 500 ms): is Postgres running, and is this its address? Check DATABASE_URL (or DATABASE_TIMEOUT_MS).`,
      );
    } finally {
      silent.close();
    }
  });

  const postgres = serviceUrl('TEST_DATABASE_URL');
  (postgres ? it : it.skip)('names a database that does not exist', async () => {
    const url = new URL(postgres!);
    url.pathname = '/oauth3_no_such_database';
    const run = await cli({ DATABASE_URL: url.href }, 'clients', 'list');
    expect(run.code).toBe(69);
    expect(run.err).toBe(
      `The database at ${url.hostname}:${url.port || 5432} has no database 'oauth3_no_such_database': create it (createdb oauth3_no_such_database) or check DATABASE_URL.`,
    );
  });
});

describe('clients add, for people', () => {
  let dataDir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-cli-people-'));
    await seedEmbeddedDatabase(dataDir);
    env = { DATA_DIR: dataDir };
  }, 120_000);
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it.each([
    [['--redirect-uri', 'https://app.example/cb'], /^--name is required: the name owners see on the consent page, e\.g\. --name "My app"$/],
    [
      ['--name', 'X'],
      /^--redirect-uri is required: .*e\.g\. --redirect-uri http:\/\/localhost:8080\/callback; a machine client takes --grant client_credentials instead$/,
    ],
    [
      ['--name', 'X', '--grant', 'password'],
      /^--grant: unknown grant 'password'; known grants: authorization_code, refresh_token, client_credentials, device_code, token_exchange$/,
    ],
    [
      ['--name', 'X', '--grant', 'client_credentials', '--scope', 'tweet.read foo'],
      /^--scope: unknown scope 'foo'; known scopes: openid, .*tweet\.read/,
    ],
    [
      ['--name', 'X', '--grant', 'client_credentials', '--id-token-alg', 'HS256'],
      /^--id-token-alg: 'HS256' is not offered; use ES256 or RS256$/,
    ],
  ])('%j is refused in one sentence', async (args, message) => {
    const run = await cli(env, 'clients', 'add', ...args);
    expect(run.code).not.toBe(0);
    expect(run.out).toBe('');
    expect(run.err).toMatch(message);
    expect(run.err.split('\n')).toHaveLength(1);
  });

  it('--resource-server alone registers a machine client, printed with the same names as text and as --json', async () => {
    const text = await cli(env, 'clients', 'add', '--name', 'My API', '--resource-server');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^ {2}client_id: {5}c_\S+$/m);
    expect(text.out).toMatch(/^ {2}grant_types: {3}client_credentials$/m);
    expect(text.out).toMatch(/^ {2}resource_server: yes/m);
    expect(text.out).toMatch(/^ {2}client_secret: \S+$/m);
    const fieldsInText = [...text.out.matchAll(/^ {2}([a-z_]+):/gm)].map((m) => m[1]);

    const json = await cli(env, 'clients', 'add', '--name', 'My API 2', '--resource-server', '--json');
    expect(json.code).toBe(0);
    const printed = JSON.parse(json.out) as Record<string, unknown>;
    expect(printed).toMatchObject({ name: 'My API 2', grant_types: ['client_credentials'], redirect_uris: [], resource_server: true });
    for (const field of fieldsInText) expect(Object.keys(printed)).toContain(field === 'redirect_uri' ? 'redirect_uris' : field);
    expect(Object.keys(printed).every((k) => /^[a-z_]+$/.test(k))).toBe(true);

    const list = JSON.parse((await cli(env, 'clients', 'list', '--json')).out) as Record<string, unknown>[];
    expect(list.map((c) => c.name)).toEqual(['My API', 'My API 2']);
    expect(Object.keys(list[1]!).sort()).toEqual(
      Object.keys(printed)
        .filter((k) => k !== 'client_secret')
        .sort(),
    );

    const token = await cli(env, 'registration-tokens', 'create', '--json');
    expect(Object.keys(JSON.parse(token.out) as object).sort()).toEqual(['expires_at', 'initial_access_token']);
    const tokenText = await cli(env, 'registration-tokens', 'create');
    expect(tokenText.out).toMatch(/^ {2}initial_access_token: \S+$/m);
    expect(tokenText.out).toMatch(/^ {2}expires_at: +\S+$/m);
  }, 120_000);
});

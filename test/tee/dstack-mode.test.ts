import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { QuoteVerifier } from '@phala/dcap-qvl';
import { ConfigError, loadConfig } from '../../src/config.js';
import { keyRing, masterKey } from '../../src/keys/sealing.js';
import { rotateSigningKeys } from '../../src/keys/keystore.js';
import { TeeUnavailable } from '../../src/tee/dstack.js';
import { attestationDocument, type AttestationDocument } from '../../src/tee/attestation-document.js';
import { jwksDigest, reportDataFor } from '../../src/tee/report-data.js';
import { runCommand } from '../helpers/cli.js';
import { projectRoot } from '../../src/paths.js';
import { fakeKmsKey, startFakeDstackAgent, type FakeDstackAgent } from '../fakes/dstack-agent.js';
import { createFakeTdx, type FakeTdx } from '../helpers/fake-tdx.js';
import {
  removeStorage,
  restartTestServer,
  startTestServer,
  storageEnv,
  storageOf,
  type KeptStorage,
  type TestServer,
} from '../helpers/server.js';
import { serviceUrl } from '../helpers/services.js';

/**
 * TEE mode (docs/architecture.md#tee-mode, threat model J10): the master key comes from dstack's KMS through the guest
 * agent and from nowhere else, and /attestation binds a verifier's nonce, the issuer and the served keys to a quote.
 * The guest agent is the fake on a unix socket (test/fakes/dstack-agent.ts), its quotes signed by a fake TDX platform.
 */
/** Embedded storage (where the key command runs inside the server, over its admin socket) and Postgres when there is one. */
const storages = serviceUrl('TEST_DATABASE_URL') ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const seed = randomBytes(32);
/** The key the fake KMS derives for `keyPath`, as a test computes it independently of the server. */
const derived = (keyPath: string) => fakeKmsKey(seed, keyPath);

let tdx: FakeTdx;
const agents: FakeDstackAgent[] = [];
async function agent(options: Parameters<typeof startFakeDstackAgent>[0] = {}): Promise<FakeDstackAgent> {
  const started = await startFakeDstackAgent({ seed, quote: ({ reportData, rtmrs }) => tdx.quote({ reportData, rtmrs }), ...options });
  agents.push(started);
  return started;
}
const teeEnv = (a: FakeDstackAgent, extra: Record<string, string> = {}) => ({
  MASTER_KEY_SOURCE: 'dstack',
  DSTACK_SOCKET: a.endpoint,
  ...extra,
});

async function attest(server: TestServer, nonce: Buffer): Promise<AttestationDocument> {
  const res = await fetch(`${server.url}/attestation?nonce=${nonce.toString('hex')}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return attestationDocument.parse(await res.json());
}

/** The 64 report_data bytes inside the quote itself, read through the verifier that checks its signature. */
function quotedReportData(doc: AttestationDocument): string {
  const verified = QuoteVerifier.newWithRootCa(tdx.rootCaDer).verify(Buffer.from(doc.quote, 'hex'), tdx.collateral, Date.now() / 1000);
  return Buffer.from(verified.report.asTd10()!.reportData).toString('hex');
}

const recomputed = (doc: AttestationDocument) =>
  reportDataFor({
    nonce: Buffer.from(doc.nonce, 'hex'),
    issuer: doc.issuer,
    jwksSha256: jwksDigest(doc.jwks),
    version: doc.version,
  }).toString('hex');

beforeAll(async () => {
  tdx = await createFakeTdx();
});
afterAll(async () => {
  await Promise.all(agents.map((a) => a.close()));
});

describe('MASTER_KEY_SOURCE in the configuration', () => {
  it('L1 refuses MASTER_KEY together with dstack, naming both', () => {
    expect(() => loadConfig({ MASTER_KEY_SOURCE: 'dstack', MASTER_KEY: randomBytes(32).toString('base64url') })).toThrow(
      /MASTER_KEY and MASTER_KEY_SOURCE=dstack: choose one/,
    );
    expect(() => loadConfig({ MASTER_KEY_SOURCE: 'dstack', MASTER_KEY_PREVIOUS: randomBytes(32).toString('base64url') })).toThrow(
      /MASTER_KEY_PREVIOUS and MASTER_KEY_SOURCE=dstack/,
    );
  });

  it('L3 in production, needs no MASTER_KEY or COOKIE_KEYS with dstack but refuses the simulator', () => {
    const production = { NODE_ENV: 'production', ISSUER: 'https://auth.example.com' };
    // Nor COOKIE_KEYS: in a TEE they are made and sealed inside it, so the operator never holds them.
    expect(loadConfig({ ...production, MASTER_KEY_SOURCE: 'dstack' }).COOKIE_KEYS).toBeUndefined();
    expect(() => loadConfig(production)).toThrow(/MASTER_KEY: required in production[\s\S]*COOKIE_KEYS: required in production/);
    let problems: string[] = [];
    try {
      loadConfig({ ...production, MASTER_KEY_SOURCE: 'dstack', DSTACK_SIMULATOR_ENDPOINT: 'http://127.0.0.1:8090' });
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual([expect.stringMatching(/^DSTACK_SIMULATOR_ENDPOINT: development only/)]);
    // In development the simulator is how one tries the mode without a CVM.
    expect(loadConfig({ MASTER_KEY_SOURCE: 'dstack', DSTACK_SIMULATOR_ENDPOINT: 'http://127.0.0.1:8090' }).DSTACK_SIMULATOR_ENDPOINT).toBe(
      'http://127.0.0.1:8090',
    );
  });

  it('checks key paths: well formed, previous ones only with dstack and never the current one', () => {
    expect(() => loadConfig({ MASTER_KEY_SOURCE: 'dstack', DSTACK_KEY_PATH: '../master key' })).toThrow(/DSTACK_KEY_PATH/);
    expect(() => loadConfig({ DSTACK_KEY_PATHS_PREVIOUS: 'oauth3/master/v1' })).toThrow(/only with MASTER_KEY_SOURCE=dstack/);
    expect(() =>
      loadConfig({ MASTER_KEY_SOURCE: 'dstack', DSTACK_KEY_PATH: 'oauth3/master/v2', DSTACK_KEY_PATHS_PREVIOUS: 'oauth3/master/v2' }),
    ).toThrow(/must not list DSTACK_KEY_PATH/);
    expect(loadConfig({ MASTER_KEY_SOURCE: 'dstack' }).DSTACK_KEY_PATH).toBe('oauth3/master/v1');
  });
});

describe.each(storages)('a server in TEE mode on %s storage', (backend) => {
  let server: TestServer;
  let storage: KeptStorage | undefined;
  let first: FakeDstackAgent;
  let sealedSecret: string;
  const accountId = `acct_tee_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    first = await agent();
    server = await startTestServer({ backend, keepStorage: true, env: teeEnv(first) });
    storage = storageOf(server);
    sealedSecret = `auth_token_${randomBytes(12).toString('hex')}`;
    await server.db.query('INSERT INTO accounts (id) VALUES ($1)', [accountId]);
    await server.app.connections.save(accountId, { provider: 'x', kind: 'x.cookie', label: '@tee', secret: { auth_token: sealedSecret } });
  });
  afterAll(async () => {
    await server?.stop();
    await removeStorage(storage);
  });

  it('L1 seals with the key dstack derived for oauth3/master/v1, and writes no key file', async () => {
    expect(first.calls.filter((c) => c.path === '/GetKey').map((c) => c.body.path)).toEqual(['oauth3/master/v1']);
    const { rows } = await server.db.query<{ sealed: string }>('SELECT sealed FROM connections WHERE account_id = $1', [accountId]);
    expect(rows[0]!.sealed.split('.')[1]).toBe(masterKey(derived('oauth3/master/v1')).id);
    const { rows: keys } = await server.db.query<{ sealed: string }>("SELECT sealed FROM keys WHERE use = 'sig'");
    for (const key of keys) expect(key.sealed.split('.')[1]).toBe(masterKey(derived('oauth3/master/v1')).id);
    expect(existsSync(path.join(server.config.DATA_DIR, 'master.key'))).toBe(false);
  });

  it('L4 serves an attestation whose quoted report_data is the verifier’s recomputation, for every nonce anew', async () => {
    const nonce = randomBytes(32);
    const doc = await attest(server, nonce);
    expect(doc.nonce).toBe(nonce.toString('hex'));
    expect(doc.issuer).toBe(server.url);
    expect(doc.jwks).toEqual(await (await fetch(`${server.url}/jwks`)).json());
    expect(doc.report_data).toBe(recomputed(doc));
    expect(quotedReportData(doc)).toBe(recomputed(doc));
    expect(doc.compose_hash).toBe(first.composeHash);
    expect(doc.app_id).toBe(first.appId);
    expect(doc.app_compose).toBe(first.appCompose);
    expect(doc.event_log.some((e) => e.event === 'compose-hash' && e.event_payload === first.composeHash)).toBe(true);

    const other = await attest(server, randomBytes(16));
    expect(other.report_data).not.toBe(doc.report_data);
    expect(quotedReportData(other)).toBe(recomputed(other));
  });

  it('L4 refuses a missing or malformed nonce with 400, never cached', async () => {
    for (const query of [
      '',
      '?nonce=',
      '?nonce=abcd',
      `?nonce=${'zz'.repeat(16)}`,
      `?nonce=${'ab'.repeat(33)}`,
      `?nonce=${'ab'.repeat(15)}`,
    ]) {
      const res = await fetch(`${server.url}/attestation${query}`);
      expect(res.status).toBe(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
    }
  });

  it('answers 503 without details when the guest agent fails, and recovers', async () => {
    first.failing.set('/GetQuote', 'quote generation failed: internal detail');
    const res = await fetch(`${server.url}/attestation?nonce=${randomBytes(16).toString('hex')}`);
    expect(res.status).toBe(503);
    const body = JSON.stringify(await res.json());
    expect(body).not.toContain('internal detail');
    first.failing.delete('/GetQuote');
    await attest(server, randomBytes(16));
  });

  it('explains the deployment on /deployment with the compose hash', async () => {
    const page = await (await fetch(`${server.url}/deployment`)).text();
    expect(page).toContain('Verified deployment');
    expect(page).toContain(first.composeHash);
    expect(page).toContain(
      `npm run oauth3 -- verify ${server.url} --allow-compose-hash ${first.composeHash} --allow-os-image-hash ${first.osImageHash}`,
    );
  });

  it('L2 L4 after a restart with the same app and path, opens what it sealed; a signing key rotation changes report_data', async () => {
    const nonce = randomBytes(32);
    const before = await attest(server, nonce);
    await rotateSigningKeys(server.db, keyRing(derived('oauth3/master/v1')), 3600, 0);
    await server.stop();
    const second = await agent();
    server = await restartTestServer(server, { keepStorage: true, backend, env: teeEnv(second) });
    const connection = await server.app.connections.find(accountId, 'x');
    expect(await server.app.connections.secret(connection!)).toEqual({ auth_token: sealedSecret });

    const after = await attest(server, nonce);
    expect(after.jwks).not.toEqual(before.jwks);
    expect(after.report_data).not.toBe(before.report_data);
    expect(quotedReportData(after)).toBe(recomputed(after));
  });

  it('L2 does not start with a key dstack derives for another path, and starts again with the right one', async () => {
    await server.stop();
    const other = await agent();
    await expect(
      restartTestServer(server, { keepStorage: true, backend, env: teeEnv(other, { DSTACK_KEY_PATH: 'oauth3/master/other' }) }),
    ).rejects.toThrow(/not configured|does not open/);
    server = await restartTestServer(server, { keepStorage: true, backend, env: teeEnv(other) });
  });

  it('rotates to oauth3/master/v2 with keys rotate-master, after which v1 is no longer needed', async () => {
    await server.stop();
    const rotating = await agent();
    const env = teeEnv(rotating, { DSTACK_KEY_PATH: 'oauth3/master/v2', DSTACK_KEY_PATHS_PREVIOUS: 'oauth3/master/v1' });
    server = await restartTestServer(server, { keepStorage: true, backend, env });
    const { code, out, err } = await runCommand(['keys', 'rotate-master'], { ...env, ...storageEnv(server) });
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('DSTACK_KEY_PATHS_PREVIOUS');
    const { rows } = await server.db.query<{ sealed: string }>('SELECT sealed FROM connections WHERE account_id = $1', [accountId]);
    expect(rows[0]!.sealed.split('.')[1]).toBe(masterKey(derived('oauth3/master/v2')).id);

    await server.stop();
    const later = await agent();
    server = await restartTestServer(server, { keepStorage: true, backend, env: teeEnv(later, { DSTACK_KEY_PATH: 'oauth3/master/v2' }) });
    const connection = await server.app.connections.find(accountId, 'x');
    expect(await server.app.connections.secret(connection!)).toEqual({ auth_token: sealedSecret });
  });

  it('refuses --generate in dstack mode, pointing at the key path instead', async () => {
    const { code, err } = await runCommand(['keys', 'rotate-master', '--generate'], { MASTER_KEY_SOURCE: 'dstack', ...storageEnv(server) });
    expect(code).toBe(64);
    expect(err).toMatch(/DSTACK_KEY_PATH to the next version/);
  });
});

describe("dstack's simulator in development", () => {
  it('L3 L4 derives the key and attests through DSTACK_SIMULATOR_ENDPOINT over HTTP (60 quotes a minute per address)', async () => {
    const simulator = await agent({ transport: 'http' });
    const server = await startTestServer({ env: { MASTER_KEY_SOURCE: 'dstack', DSTACK_SIMULATOR_ENDPOINT: simulator.endpoint } });
    try {
      expect(simulator.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:/);
      expect(simulator.calls.map((c) => c.path)).toEqual(expect.arrayContaining(['/GetKey', '/Info']));
      const doc = await attest(server, randomBytes(16));
      expect(quotedReportData(doc)).toBe(recomputed(doc));

      // Each quote is work for the CVM: 60 a minute per address (this one was the first), then 429, never cached.
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++)
        statuses.push((await fetch(`${server.url}/attestation?nonce=${randomBytes(16).toString('hex')}`)).status);
      expect(statuses.slice(0, 59).every((s) => s === 200)).toBe(true);
      expect(statuses[59]).toBe(429);
      const refused = await fetch(`${server.url}/attestation?nonce=${randomBytes(16).toString('hex')}`);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('cache-control')).toBe('no-store');
      expect(((await refused.json()) as { error: string }).error).toBe('too_many_requests');
    } finally {
      await server.stop();
    }
  });
});

describe('a TEE-mode start that cannot get its key', () => {
  it('L1 stops with one line when there is no guest agent socket', async () => {
    const missing = path.join('/tmp', `no-dstack-${randomBytes(4).toString('hex')}.sock`);
    const error = await startTestServer({ env: { MASTER_KEY_SOURCE: 'dstack', DSTACK_SOCKET: missing } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TeeUnavailable);
    expect((error as Error).message).toContain(`no dstack guest agent socket at ${missing}`);
    expect((error as Error).message).not.toContain('\n');
  });

  it('L1 stops when the agent reports an error or a key of the wrong length, and never falls back to a generated key', async () => {
    const failing = await agent();
    failing.failing.set('/GetKey', 'kms unreachable');
    const refused = await startTestServer({ env: teeEnv(failing) }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TeeUnavailable);
    // The SDK drops the agent's own words for GetKey; what the operator reads names the agent and the key path.
    expect((refused as Error).message).toMatch(/^dstack's guest agent at \S+ could not derive the key oauth3\/master\/v1: /);

    const short = await agent();
    short.keyLength = 16;
    const wrong = await startTestServer({ env: teeEnv(short) }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(TeeUnavailable);
    expect((wrong as Error).message).toMatch(/returned a 16-byte key for oauth3\/master\/v1; a master key is 32 bytes/);
  });

  it('`npm start` prints one line naming the socket and exits, with no key file and nothing listening', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-tee-start-'));
    const missing = path.join(os.tmpdir(), `no-dstack-${randomBytes(4).toString('hex')}.sock`);
    try {
      const child = spawn('npx', ['tsx', 'src/main.ts'], {
        cwd: projectRoot,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          PORT: '0',
          DATA_DIR: dataDir,
          MASTER_KEY_SOURCE: 'dstack',
          DSTACK_SOCKET: missing,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(69);
      const lines = output.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect((JSON.parse(lines[0]!) as { msg: string }).msg).toContain(`no dstack guest agent socket at ${missing}`);
      // It stopped before opening storage: no database, no generated key.
      expect(readdirSync(dataDir)).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('stops when the agent is gone mid-way (the socket answers nothing)', async () => {
    const gone = await agent();
    const endpoint = gone.endpoint;
    await gone.close();
    const error = await startTestServer({ env: { MASTER_KEY_SOURCE: 'dstack', DSTACK_SOCKET: endpoint } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TeeUnavailable);
  });
});

describe('outside TEE mode', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('L4 has no attestation to give: 404 with a plain explanation', async () => {
    const res = await fetch(`${server.url}/attestation?nonce=${randomBytes(16).toString('hex')}`);
    expect(res.status).toBe(404);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(((await res.json()) as { error_description: string }).error_description).toMatch(/does not run in a TEE/);
  });

  it('says on /deployment that the operator holds the key', async () => {
    const page = await (await fetch(`${server.url}/deployment`)).text();
    expect(page).toContain('Not a verified deployment');
    expect(page).not.toContain('tee-badge');
  });
});

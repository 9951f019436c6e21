import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { closeServer, listenLocally } from '../fakes/local-server.js';
import { startAttestedIssuer, type AttestedIssuer } from '../tee/attested-issuer.js';
import { runCommand, type CliRun } from '../helpers/cli.js';

/**
 * `npm run oauth3 -- verify` as an outsider runs it: no configuration, database or master key in its environment, an
 * instance on 127.0.0.1 answering discovery, JWKS and /attestation, and exit codes 0 (every check holds), 1 (not
 * verified, or the instance cannot be asked) and 2 (usage).
 */

const RECORDED_QUOTE = path.join(process.cwd(), 'test/fixtures/tdx/tdx_quote');
const RECORDED_COLLATERAL = path.join(process.cwd(), 'test/fixtures/tdx/tdx_quote_collateral.json');

const cli = (argv: string[], env: Record<string, string | undefined> = { NODE_ENV: 'test' }): Promise<CliRun> => runCommand(argv, env);

describe('npm run oauth3 -- verify', () => {
  let iss: AttestedIssuer;
  let dir: string;
  let rootPem: string;
  let rootDer: string;
  let collateral: string;
  let allow: string[];

  beforeAll(async () => {
    iss = await startAttestedIssuer();
    dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-verify-'));
    rootPem = path.join(dir, 'root.pem');
    rootDer = path.join(dir, 'root.der');
    collateral = path.join(dir, 'collateral.json');
    writeFileSync(rootPem, iss.tdx.rootCaPem);
    writeFileSync(rootDer, iss.tdx.rootCaDer);
    writeFileSync(collateral, JSON.stringify(iss.tdx.collateral));
    allow = ['--allow-compose-hash', iss.agent.composeHash, '--allow-os-image-hash', iss.agent.osImageHash];
  });
  afterAll(async () => {
    await iss.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    for (const key of Object.keys(iss.tamper)) delete iss.tamper[key as keyof typeof iss.tamper];
  });

  it('verifies an honest instance with the trusted test root, saying so first and loudly, one line per check', async () => {
    const run = await cli(['verify', iss.issuer, ...allow, '--collateral', collateral, '--trust-test-root', rootPem]);
    expect(run).toMatchObject({ code: 0, err: '' });
    const lines = run.out.split('\n');
    expect(lines[0]).toBe(
      `Verified against a TEST ROOT, not Intel's: ${iss.issuer} runs the attested code (app-compose ${iss.agent.composeHash}) in an Intel TDX confidential VM, and serves only the keys that code holds.`,
    );
    expect(lines.slice(1).every((l) => l.startsWith('  ✓ '))).toBe(true);
    expect(run.out).toContain('✓ trust-root: WARNING: TEST ROOT trusted');
    // A fresh 32-byte nonce each time.
    await cli(['verify', iss.issuer, ...allow, '--collateral', collateral, '--trust-test-root', rootDer]);
    expect(iss.nonces.slice(-2).map((n) => n.length)).toEqual([64, 64]);
    expect(new Set(iss.nonces).size).toBe(iss.nonces.length);
  });

  it("refuses the fake quote without --trust-test-root: Intel's root does not sign it", async () => {
    const run = await cli(['verify', iss.issuer, ...allow, '--collateral', collateral]);
    expect(run.code).toBe(1);
    expect(run.out.split('\n')[0]).toBe(`NOT verified: ${iss.issuer} failed 2 check(s) (quote, tcb); do not trust it.`);
    expect(run.out).toMatch(/✗ quote: signature chain does not hold to Intel's root/);
    expect(run.out).toContain("✓ trust-root: Intel's SGX/TDX root CA");
  });

  it('L3 refuses --trust-test-root with NODE_ENV=production, in plain words, before asking the instance anything', async () => {
    const asked = iss.nonces.length;
    const run = await cli(['verify', iss.issuer, ...allow, '--collateral', collateral, '--trust-test-root', rootPem], {
      NODE_ENV: 'production',
    });
    expect(run).toEqual({
      code: 2,
      out: '',
      err: expect.stringMatching(/^--trust-test-root is for tests and local fakes, and is refused with NODE_ENV=production/),
    });
    expect(iss.nonces.length).toBe(asked);
  });

  it('L6 refuses an instance whose compose hash is not allowed, and one checked with no allow-list', async () => {
    const other = await cli([
      'verify',
      iss.issuer,
      '--allow-compose-hash',
      'ab'.repeat(32),
      '--collateral',
      collateral,
      '--trust-test-root',
      rootPem,
    ]);
    expect(other.code).toBe(1);
    expect(other.out).toContain('✗ compose-hash: the instance runs compose');
    const none = await cli(['verify', iss.issuer, '--collateral', collateral, '--trust-test-root', rootPem]);
    expect(none.code).toBe(1);
    expect(none.out).toContain('node deploy/dstack/render.mjs IMAGE@sha256:DIGEST prints it');
  });

  it("refuses a replayed attestation, another issuer's, and keys changed after the quote", async () => {
    const base = ['verify', iss.issuer, ...allow, '--collateral', collateral, '--trust-test-root', rootPem];
    iss.tamper.nonce = 'ab'.repeat(32);
    expect((await cli(base)).out).toContain('✗ nonce: made for another nonce');
    delete iss.tamper.nonce;
    iss.tamper.issuer = 'https://other.example';
    expect((await cli(base)).out).toContain('✗ issuer: made for issuer https://other.example');
    delete iss.tamper.issuer;
    iss.tamper.servedJwks = { keys: [iss.jwks.keys[0]!] };
    const run = await cli(base);
    expect(run.code).toBe(1);
    expect(run.out).toContain('✗ served-keys:');
  });

  it('L5 L6 refuses a debug TD and a development OS image', async () => {
    iss.tamper.debug = true;
    const debug = await cli(['verify', iss.issuer, ...allow, '--collateral', collateral, '--trust-test-root', rootPem]);
    expect(debug.code).toBe(1);
    expect(debug.out).toContain('✗ debug-td: the TD runs in DEBUG mode');
    delete iss.tamper.debug;
    const pinned = await cli([
      'verify',
      iss.issuer,
      '--allow-compose-hash',
      iss.agent.composeHash,
      '--allow-os-image-hash',
      'cd'.repeat(32),
      '--collateral',
      collateral,
      '--trust-test-root',
      rootPem,
    ]);
    expect(pinned.code).toBe(1);
    expect(pinned.out).toContain(`✗ os-image: the measured OS image ${iss.agent.osImageHash} is not in --allow-os-image-hash`);
  });

  it('fetches the collateral from a PCCS for the quote (--pccs-url)', async () => {
    const pccs = await iss.tdx.pccs();
    try {
      const run = await cli(['verify', iss.issuer, ...allow, '--pccs-url', pccs.url, '--trust-test-root', rootPem]);
      expect(run).toMatchObject({ code: 0, err: '' });
      expect(pccs.requests.length).toBeGreaterThan(0);
    } finally {
      await pccs.close();
    }
  });

  it('says when the PCCS cannot give collateral, as the failing quote check', async () => {
    const pccs = await iss.tdx.pccs();
    await pccs.close();
    const run = await cli(['verify', iss.issuer, ...allow, '--pccs-url', pccs.url, '--trust-test-root', rootPem]);
    expect(run.code).toBe(1);
    expect(run.out).toContain(`✗ quote: no collateral to check the quote with: could not get collateral from ${pccs.url}`);
  });

  it('prints --json with the verdict, issuer, compose hash, app id and every check', async () => {
    const run = await cli(['verify', iss.issuer, ...allow, '--collateral', collateral, '--trust-test-root', rootPem, '--json']);
    expect(run.code).toBe(0);
    const json = JSON.parse(run.out) as Record<string, unknown> & { checks: Array<Record<string, unknown>> };
    expect(json).toMatchObject({
      verdict: 'verified',
      issuer: iss.issuer,
      compose_hash: iss.agent.composeHash,
      app_id: iss.agent.appId,
      trusted_root: 'test',
      tcb_status: 'UpToDate',
    });
    expect(json.checks.length).toBe(15);
    for (const check of json.checks) expect(Object.keys(check).filter((k) => k !== 'warning')).toEqual(['id', 'ok', 'detail']);
    const refused = JSON.parse((await cli(['verify', iss.issuer, '--collateral', collateral, '--json'])).out) as typeof json;
    expect(refused.verdict).toBe('not verified');
    expect(refused.checks.filter((c) => !c.ok).map((c) => c.id)).toEqual(['quote', 'tcb', 'compose-hash', 'os-image']);
  });

  it('says in one line that an instance not in TEE mode has nothing to verify (404 from /attestation)', async () => {
    iss.tamper.status = 404;
    const run = await cli(['verify', iss.issuer, ...allow, '--collateral', collateral]);
    expect(run).toEqual({
      code: 1,
      out: '',
      err: `NOT verified: ${iss.issuer} serves no /attestation (HTTP 404): it is not running in TEE mode, so there is nothing to verify.`,
    });
  });

  it('says in one line that an issuer cannot be reached', async () => {
    const server = http.createServer();
    const url = await listenLocally(server);
    await closeServer(server);
    const run = await cli(['verify', url, ...allow]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(
      new RegExp(`^NOT verified: Could not fetch its discovery document from ${url}/\\.well-known/openid-configuration: ECONNREFUSED\\.$`),
    );
  });

  it('refuses a discovery document that names another issuer', async () => {
    const server = http.createServer((_req, res) =>
      res.end(JSON.stringify({ issuer: 'https://elsewhere.example', jwks_uri: 'https://elsewhere.example/jwks' })),
    );
    const url = await listenLocally(server);
    try {
      const run = await cli(['verify', url, ...allow]);
      expect(run).toMatchObject({ code: 1, err: expect.stringContaining('names another issuer (https://elsewhere.example)') });
    } finally {
      await closeServer(server);
    }
  });

  it.each([
    [['verify'], 'Give the issuer URL'],
    [['verify', 'http://auth.example.com'], 'must be an https URL'],
    [['verify', 'https://a.example', '--bogus'], "Unknown option '--bogus'"],
    [['verify', 'https://a.example', '--collateral', 'a', '--pccs-url', 'https://p.example'], 'not both'],
    [['verify', 'https://a.example', '--at', '2025-07-01T00:00:00Z'], '--at applies to --quote only'],
    [['verify', '--quote', 'q', '--at', 'yesterday'], '--at: an ISO time'],
    [['verify', 'https://a.example', '--trust-test-root', '/nonexistent/root.pem'], 'is not a PEM or DER certificate'],
  ])('exits 2 on a usage error: %j', async (argv, message) => {
    const run = await cli(argv);
    expect(run.code).toBe(2);
    expect(run.err).toContain(message);
  });

  it('is listed in the usage text', async () => {
    const run = await cli(['--help']);
    expect(run.out).toContain('verify ISSUER_URL --allow-compose-hash HASH');
    expect(run.out).toContain('verify --quote FILE');
  });
});

describe('npm run oauth3 -- verify --quote (a recorded quote)', () => {
  it("verifies the recorded real TDX quote with Intel's root as of a time its collateral was valid, and prints its measurements", async () => {
    const run = await cli(['verify', '--quote', RECORDED_QUOTE, '--collateral', RECORDED_COLLATERAL, '--at', '2025-07-01T00:00:00Z']);
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out.split('\n')[0]).toBe('Verified: a genuine TDX quote, TCB UpToDate as of 2025-07-01T00:00:00.000Z.');
    for (const name of ['MRTD', 'RTMR0', 'RTMR1', 'RTMR2', 'RTMR3', 'REPORT_DATA'])
      expect(run.out).toMatch(new RegExp(`^  ${name} +[0-9a-f]{96,128}$`, 'm'));
  });

  it('refuses the same quote today: its collateral has expired', async () => {
    const run = await cli(['verify', '--quote', RECORDED_QUOTE, '--collateral', RECORDED_COLLATERAL]);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/^NOT verified as of /);
    expect(run.out).toContain('TCBInfo expired');
    expect(run.out).toContain('Measurements (from a quote that did NOT verify):');
  });

  it('prints --json with the measurements', async () => {
    const run = await cli([
      'verify',
      '--quote',
      RECORDED_QUOTE,
      '--collateral',
      RECORDED_COLLATERAL,
      '--at',
      '2025-07-01T00:00:00Z',
      '--json',
    ]);
    const json = JSON.parse(run.out) as { verdict: string; measurements: Record<string, string>; trusted_root: string };
    expect(json).toMatchObject({
      verdict: 'verified',
      trusted_root: 'intel',
      measurements: { mrtd: expect.stringMatching(/^[0-9a-f]{96}$/) },
    });
    expect(Object.keys(json.measurements)).toEqual(['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3', 'report_data', 'td_attributes']);
  });
});

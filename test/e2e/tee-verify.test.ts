import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCommand } from '../helpers/cli.js';
import { rotateSigningKeys } from '../../src/keys/keystore.js';
import { keyRing } from '../../src/keys/sealing.js';
import { fakeKmsKey, startFakeDstackAgent, type FakeDstackAgent } from '../fakes/dstack-agent.js';
import { createFakeTdx, type FakeTdx } from '../helpers/fake-tdx.js';
import { restartTestServer, startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The whole TEE story end to end (threat model L4–L6): a real oauth3 in TEE mode, on a fake guest agent whose quotes a
 * fake TDX platform signs, checked from outside by `npm run oauth3 -- verify` exactly as an owner would run it.
 */
describe('oauth3 verify against a real server in TEE mode', () => {
  let tdx: FakeTdx;
  let agent: FakeDstackAgent;
  let server: TestServer;
  let dir: string;
  let collateral: string;
  let root: string;
  const seed = randomBytes(32);

  // An outsider's command: no server configuration in its environment.
  const verify = (...args: string[]) =>
    runCommand(['verify', server.url, '--collateral', collateral, '--allow-os-image-hash', agent.osImageHash, ...args], {
      PATH: process.env.PATH,
    });

  beforeAll(async () => {
    tdx = await createFakeTdx();
    agent = await startFakeDstackAgent({ seed, quote: ({ reportData, rtmrs }) => tdx.quote({ reportData, rtmrs }) });
    server = await startTestServer({ keepStorage: true, env: { MASTER_KEY_SOURCE: 'dstack', DSTACK_SOCKET: agent.endpoint } });
    dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-verify-e2e-'));
    collateral = path.join(dir, 'collateral.json');
    root = path.join(dir, 'root.pem');
    writeFileSync(collateral, JSON.stringify(tdx.collateral));
    writeFileSync(root, tdx.rootCaPem);
  });
  afterAll(async () => {
    await server?.stop();
    await agent?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('L5 verifies the instance when its compose hash is allowed and the fake root is trusted', async () => {
    const run = await verify('--allow-compose-hash', agent.composeHash, '--trust-test-root', root, '--json');
    expect(run.err).toBe('');
    const result = JSON.parse(run.out) as { verdict: string; compose_hash: string; checks: Array<{ id: string; ok: boolean }> };
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.verdict).toBe('verified');
    expect(result.compose_hash).toBe(agent.composeHash);
    expect(run.code).toBe(0);
  });

  it("L6 refuses the same instance under Intel's root, and with another compose hash", async () => {
    const intel = await verify('--allow-compose-hash', agent.composeHash);
    expect(intel.code).toBe(1);
    expect(intel.out).toMatch(/NOT verified/);
    const other = await verify('--allow-compose-hash', 'ab'.repeat(32), '--trust-test-root', root);
    expect(other.code).toBe(1);
    expect(other.out).toMatch(/compose/i);
  });

  it('L4 still verifies after a signing-key rotation: the attestation binds the keys served now', async () => {
    await rotateSigningKeys(server.db, keyRing(fakeKmsKey(seed, 'oauth3/master/v1')), 3600, 0);
    const before = (await (await fetch(`${server.url}/jwks`)).json()) as unknown;
    await server.stop();
    server = await restartTestServer(server, { keepStorage: true, env: { MASTER_KEY_SOURCE: 'dstack', DSTACK_SOCKET: agent.endpoint } });
    expect(await (await fetch(`${server.url}/jwks`)).json()).not.toEqual(before);
    const run = await verify('--allow-compose-hash', agent.composeHash, '--trust-test-root', root);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
  });
});

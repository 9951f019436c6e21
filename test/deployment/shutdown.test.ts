import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/open.js';
import { ClientStore } from '../../src/clients/store.js';
import { startTestServer } from '../helpers/server.js';
import { ServerProcess } from '../helpers/replicas.js';
import { slowTokenRequest } from '../helpers/raw-http.js';

/** A fresh TCP connection's fate: 'refused' once the server stopped listening. */
const connectOutcome = (port: number) =>
  fetch(`http://127.0.0.1:${port}/healthz`).then(
    (res) => `status ${res.status}`,
    (error: unknown) => {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      return code === 'ECONNREFUSED' ? 'refused' : `error ${code}`;
    },
  );

async function until<T>(probe: () => Promise<T>, done: (value: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await probe();
  }
  return value;
}

/**
 * Graceful shutdown on the real entry point (src/main.ts in its own process, embedded storage): SIGTERM stops new
 * connections, lets the request in flight finish, closes idle keep-alive connections and storage, and exits 0; the
 * embedded database opens again at once. A request that does not finish is cut at SHUTDOWN_TIMEOUT_MS.
 */
describe('graceful shutdown of the server process', () => {
  let dataDir: string;
  let machine: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-shutdown-'));
    // The client is registered in the embedded database before the process takes it over.
    const setup = await startTestServer({ storage: { dataDir }, keepStorage: true });
    machine = await setup.addClient({ name: 'Shutdown machine', grantTypes: ['client_credentials'], scope: 'tweet.read' });
    await setup.stop();
  }, 180_000);
  afterAll(() => {
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const start = (env: Record<string, string> = {}) =>
    new ServerProcess({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'info', ...env }).start();

  it('on SIGTERM refuses new connections, finishes the request in flight with 200, and exits 0; the database opens again', async () => {
    // A timeout far above a loaded machine's shutdown time, so reaching it can only mean something held the process.
    const proc = await start({ SHUTDOWN_TIMEOUT_MS: '30000' });
    // An idle keep-alive connection, as a load balancer or a browser leaves one: it must not keep the process up.
    const keepAlive = new http.Agent({ keepAlive: true });
    const idle = await new Promise<number>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port: proc.port, path: '/healthz', agent: keepAlive }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        })
        .on('error', reject),
    );
    expect(idle).toBe(200);

    const inflight = slowTokenRequest(proc.port, machine.clientId, machine.clientSecret!);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sigterm = Date.now();
    const exited = proc.stop();

    // The listener closes at once; the request in flight is still waiting for its body.
    expect(
      await until(
        () => connectOutcome(proc.port),
        (o) => o === 'refused',
        3000,
      ),
    ).toBe('refused');
    inflight.finish();
    const answer = await inflight.answer;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ access_token: expect.any(String), token_type: 'Bearer' });
    // The client is told to go elsewhere for its next request.
    expect(answer.connection).toBe('close');

    expect(await exited).toBe(0);
    // Well within SHUTDOWN_TIMEOUT_MS: nothing (the idle keep-alive connection included) held the process.
    expect(Date.now() - sigterm).toBeLessThan(20_000);
    const output = proc.output.join('');
    expect(output).toContain('shutting down');
    expect(output).not.toContain('cut off');
    keepAlive.destroy();

    // The lock is released and the data intact: the admin tools (or the next start) open it right away.
    const db = await openDatabase(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), 'shutdown test');
    try {
      const clients = await new ClientStore(db).list();
      expect(clients.map((c) => c.clientId)).toContain(machine.clientId);
      // The token issued during the drain was written before the database closed.
      expect(
        (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM oidc_models WHERE model = 'ClientCredentials'")).rows[0]!.n,
      ).toBe(1);
    } finally {
      await db.close();
    }
  }, 180_000);

  it('cuts a request that does not finish at SHUTDOWN_TIMEOUT_MS and still exits 0', async () => {
    const proc = await start({ SHUTDOWN_TIMEOUT_MS: '1500' });
    const stuck = slowTokenRequest(proc.port, machine.clientId, machine.clientSecret!);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sigterm = Date.now();
    const code = await proc.stop();
    const elapsed = Date.now() - sigterm;
    expect(code).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(20_000);
    // The held connection was closed under the client, without an answer.
    await expect(stuck.answer).rejects.toThrow();
    expect(proc.output.join('')).toContain('cut off');

    const db = await openDatabase(loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), 'shutdown test');
    await db.close();
  }, 180_000);
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/database.js';
import { ClientStore } from '../../src/clients/store.js';
import { ClusterProcess, seriesValue } from '../helpers/cluster.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';
import { slowTokenRequest } from '../helpers/raw-http.js';
import { startFakeTelegram, type FakeTelegram } from '../fakes/telegram.js';
import { botEnv } from '../telegram-bot/support.js';

const databaseUrl = serviceUrl('TEST_DATABASE_URL');
const redisUrl = serviceUrl('TEST_REDIS_URL');

/** The sum of every series of a metric in a Prometheus text exposition. */
const total = (text: string, metric: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`${metric}{`) || l.startsWith(`${metric} `))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

/**
 * The primary of WORKERS=2 as an operator meets it: one metrics port for both workers, a killed worker replaced while
 * the other keeps answering, and SIGTERM letting a request in flight finish before the process exits 0.
 */
(databaseUrl && redisUrl ? describe : describe.skip)('H8 the primary of two workers', () => {
  let cluster: ClusterProcess;
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let db: Database;
  let dataDir: string;
  let stopped = false;
  let telegram: FakeTelegram;
  const calledTelegram = (method: string) => telegram.calls.filter((c) => c.method === method).length;

  beforeAll(async () => {
    schema = await createTestSchema(databaseUrl!);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-workers-life-'));
    telegram = await startFakeTelegram();
    const { token } = telegram.addBot({ username: 'oauth3_workers_bot' });
    cluster = await new ClusterProcess({
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      DATABASE_URL: schema.url,
      DATABASE_POOL_SIZE: '4',
      REDIS_URL: redisUrl!,
      MASTER_KEY: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '20000',
      // oauth3's own bot in webhook mode: telling Telegram where to post is for one worker, not each.
      ...botEnv(telegram, token),
    }).start();
    db = createPostgresDatabase({ url: schema.url, poolSize: 2, timeoutMs: 5000 });
  }, 180_000);

  afterAll(async () => {
    if (!stopped) await cluster?.process.stop();
    await db?.close();
    await schema?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    await telegram?.stop();
  });

  it('tells Telegram where to post once, from the lead worker, not once per worker', () => {
    expect(calledTelegram('setWebhook')).toBe(1);
    expect(calledTelegram('setMyCommands')).toBe(1);
  });

  it('serves both workers’ counters, added up, on the one metrics port', async () => {
    const before = await cluster.metrics();
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await cluster.send('/.well-known/openid-configuration'));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
    expect(new Set(answers.map((a) => a.worker))).toEqual(new Set([1, 2]));
    const after = await cluster.metrics();
    const counted =
      total(after, 'oauth3_http_request_duration_seconds_count') - total(before, 'oauth3_http_request_duration_seconds_count');
    expect(counted).toBe(6);
    expect(seriesValue(after, 'oauth3_workers')).toBe(2);
    // Each worker's process metrics are there too, summed: two processes' resident memory at least.
    expect(seriesValue(after, 'process_resident_memory_bytes')).toBeGreaterThan(2 * 20 * 1024 * 1024);
  });

  it('replaces a worker that was killed, says which and why, and keeps answering meanwhile', async () => {
    const pid = cluster.workerPid(2);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    const died = await cluster.process.waitFor(new RegExp(`worker 2 \\(pid ${pid}\\) died: killed by SIGKILL`), 10_000);
    expect(JSON.parse(died)).toMatchObject({ level: 50, worker: 2, pid, signal: 'SIGKILL' });

    // Until the new worker 2 is ready, worker 1 answers everything.
    const meanwhile = [];
    for (let i = 0; i < 4; i++) meanwhile.push(await cluster.send('/.well-known/openid-configuration'));
    expect(meanwhile.map((a) => [a.status, a.worker])).toEqual(Array(4).fill([200, 1]));

    await cluster.process.waitFor(/"msg":"worker 2 is ready again"/, 60_000);
    expect(cluster.workerPid(2)).not.toBe(pid);
    const after = [];
    for (let i = 0; i < 4; i++) after.push(await cluster.send('/.well-known/openid-configuration'));
    expect(after.map((a) => a.status)).toEqual(Array(4).fill(200));
    expect(new Set(after.map((a) => a.worker))).toEqual(new Set([1, 2]));
    const metrics = await cluster.metrics();
    expect(seriesValue(metrics, 'oauth3_worker_restarts_total')).toBe(1);
    expect(seriesValue(metrics, 'oauth3_workers')).toBe(2);
    // Worker 2 was not the lead: its replacement does not set the webhook again.
    expect(calledTelegram('setWebhook')).toBe(1);
  }, 90_000);

  it('on SIGTERM lets requests in flight on the workers finish, then exits 0', async () => {
    const { client, clientSecret } = await new ClientStore(db).add({ name: 'Draining machine', grantTypes: ['client_credentials'] });
    // Two requests whose bodies are half sent: one on each worker (each new connection goes to the next worker).
    const slow = [
      slowTokenRequest(cluster.process.port, client.clientId, clientSecret!),
      slowTokenRequest(cluster.process.port, client.clientId, clientSecret!),
    ];
    await new Promise((resolve) => setTimeout(resolve, 500));
    const exit = cluster.process.stop();
    stopped = true;
    await cluster.process.waitFor(/"worker":2,.*"msg":"shutting down: finishing requests in flight"/, 10_000);
    await cluster.process.waitFor(/"worker":1,.*"msg":"shutting down: finishing requests in flight"/, 10_000);
    // Still running while the requests are unfinished.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(cluster.lines().filter((l) => l.msg === 'stopped')).toEqual([]);
    for (const request of slow) request.finish();
    const answers = await Promise.all(slow.map((request) => request.answer));
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(await exit).toBe(0);
    // Each worker said it stopped, then the primary.
    expect(cluster.lines().filter((l) => l.msg === 'stopped')).toHaveLength(3);
  }, 60_000);
});

import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { createTestSchema } from '../test/helpers/services.js';
import { POST_BODY, TOKEN_BODY, type LoadOptions, type LoadResult, type TargetMessage, type TargetName, type TargetSetup } from './protocol.js';
import { report, resourceReport, type Measured } from './report.js';
import { benchConfig, prepareStorage } from './storage.js';

/**
 * `npm run bench`: client-credentials token requests per second and latency at 50 connections, for our server on
 * Postgres, the same oidc-provider configuration in memory, and a bare Koa endpoint; then resource API calls (token,
 * scope, policy, vault, access log, a call to a fake upstream) beside a bare proxy to the same fake upstream. Each server runs in its own
 * process, one after the other, and the load generator in another. BENCH_DURATION (seconds) shortens a run.
 * Exits 1 when a response was not a 200 or a target of the issue is missed.
 */
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
/** `tokens` or `resource` runs one scenario; unset runs both. */
const ONLY = process.env.BENCH_ONLY;
const CONNECTIONS = 50;
if (!(DURATION > 0) || !(WARMUP >= 0)) throw new Error('BENCH_DURATION must be a positive number of seconds, BENCH_WARMUP zero or more');
if (ONLY !== undefined && ONLY !== 'tokens' && ONLY !== 'resource') throw new Error('BENCH_ONLY must be tokens or resource');

const TARGETS: { target: TargetName; label: string }[] = [
  { target: 'ours', label: '(a) oauth3 on Postgres' },
  { target: 'in-memory', label: '(b) oidc-provider in memory' },
  { target: 'bare-koa', label: '(c) bare Koa' },
];

const RESOURCE_TARGETS: { target: TargetName; label: string }[] = [
  { target: 'resource', label: '(d) resource API on Postgres' },
  { target: 'bare-proxy', label: '(e) bare proxy' },
];

const children = new Set<ChildProcess>();

function spawn(file: string, argument: unknown): ChildProcess {
  const child = fork(fileURLToPath(new URL(file, import.meta.url)), [JSON.stringify(argument)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** The child's next message; an exit before it is a failure. */
function nextMessage<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${what}: process exited (${code}) before answering`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message as T);
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** One request before the load: the endpoint must really issue a bearer token for tweet.read. */
async function checkToken(url: string, authorization: string): Promise<void> {
  const response = await fetch(`${url}/token`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
    body: TOKEN_BODY,
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200 || typeof body.access_token !== 'string' || body.token_type !== 'Bearer' || body.scope !== 'tweet.read') {
    throw new Error(`no token from ${url}: HTTP ${response.status} ${JSON.stringify(body)}`);
  }
}

/** What the load generator sends to a target, once it says where it listens (and, for the resource API, its token). */
type RequestFor = (ready: { url: string; token?: string }) => Pick<LoadOptions, 'url' | 'authorization' | 'body' | 'contentType'>;

async function measure(setup: TargetSetup, requestFor: RequestFor, check?: (ready: { url: string }) => Promise<void>): Promise<{ result: LoadResult; storedTokens?: number; cpuMicros?: number }> {
  const server = spawn('./target-process.ts', setup);
  const ready = await nextMessage<TargetMessage>(server, `${setup.target} server`);
  if (ready.type !== 'ready') throw new Error(`${setup.target} server did not start: ${ready.type === 'failed' ? ready.error : ready.type}`);
  try {
    await check?.(ready);
    const options: LoadOptions = { ...requestFor(ready), connections: CONNECTIONS, warmupSeconds: WARMUP, durationSeconds: DURATION };
    const load = spawn('./load-process.ts', options);
    await nextMessage<{ type: 'measuring' }>(load, 'load generator');
    server.send('mark');
    const result = await nextMessage<LoadResult>(load, 'load generator');
    await exited(load);
    server.send('stop');
    const stopped = await nextMessage<TargetMessage>(server, `${setup.target} server`);
    if (stopped.type !== 'stopped') return { result };
    return { result, storedTokens: stopped.storedTokens, ...(stopped.cpuMicros !== undefined ? { cpuMicros: stopped.cpuMicros } : {}) };
  } finally {
    if (server.exitCode === null) server.kill();
    await exited(server);
  }
}

/** One real call before the load: the resource target must post through to the upstream. */
async function checkPost(url: string, authorization: string | undefined): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { ...(authorization ? { authorization } : {}), 'content-type': 'application/json' }, body: POST_BODY });
  const body = (await response.json()) as Record<string, unknown>;
  if (response.status !== 200 || typeof body.id !== 'string') throw new Error(`no post through ${url}: HTTP ${response.status} ${JSON.stringify(body)}`);
}

/** The resource API against a bare proxy, both calling one fake upstream that runs in a process of its own. */
async function measureResource(shared: Omit<TargetSetup, 'target' | 'clientId'>): Promise<Measured[]> {
  const upstream = spawn('./upstream-process.ts', {});
  const ready = await nextMessage<{ type: 'ready'; url: string }>(upstream, 'fake upstream');
  try {
    const rows: Measured[] = [];
    for (const { target, label } of RESOURCE_TARGETS) {
      const loadBefore = os.loadavg()[0]!;
      process.stderr.write(`measuring ${label} (${WARMUP} s warm-up + ${DURATION} s, load average ${loadBefore.toFixed(2)})...\n`);
      const requestFor: RequestFor = (r) => ({
        url: target === 'resource' ? `${r.url}/api/bench/posts` : `${r.url}/posts`,
        authorization: r.token ? `Bearer ${r.token}` : '',
        body: POST_BODY,
        contentType: 'application/json',
      });
      const { result, storedTokens, cpuMicros } = await measure({ ...shared, target, clientId: '', upstreamUrl: ready.url }, requestFor, async (r) => {
        const request = requestFor(r);
        await checkPost(request.url, request.authorization || undefined);
      });
      rows.push({ target, label, result, loadBefore, storedTokens, cpuMicros });
    }
    return rows;
  } finally {
    upstream.send('stop');
    await exited(upstream);
  }
}

async function main(): Promise<boolean> {
  const schema = await createTestSchema(DATABASE_URL);
  try {
    const port = await freePort();
    const shared = { port, databaseUrl: schema.url, masterKey: randomBytes(32).toString('base64url'), logLevel: LOG_LEVEL };
    const { clientId, clientSecret } = await prepareStorage(benchConfig(shared));
    // RFC 6749 §2.3.1: client id and secret are form-encoded before Basic encoding.
    const authorization = 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64');

    const rows: Measured[] = [];
    for (const { target, label } of ONLY === 'resource' ? [] : TARGETS) {
      const loadBefore = os.loadavg()[0]!;
      process.stderr.write(`measuring ${label} (${WARMUP} s warm-up + ${DURATION} s, load average ${loadBefore.toFixed(2)})...\n`);
      const { result, storedTokens, cpuMicros } = await measure(
        { ...shared, target, clientId },
        (ready) => ({ url: `${ready.url}/token`, authorization, body: TOKEN_BODY }),
        (ready) => checkToken(ready.url, authorization),
      );
      rows.push({ target, label, result, loadBefore, storedTokens, cpuMicros });
    }
    const tokens = ONLY === 'resource' ? { markdown: '', ok: true } : report(rows, { connections: CONNECTIONS, warmup: WARMUP, duration: DURATION, logLevel: LOG_LEVEL });
    const resource = ONLY === 'tokens'
      ? { markdown: '', ok: true }
      : resourceReport(await measureResource(shared), { connections: CONNECTIONS, warmup: WARMUP, duration: DURATION });
    const markdown = [tokens.markdown, resource.markdown].filter(Boolean).join('\n');
    const ok = tokens.ok && resource.ok;
    process.stdout.write('\n' + markdown);
    const dir = new URL('./results/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    writeFileSync(new URL('latest.md', dir), markdown);
    return ok;
  } finally {
    await schema.drop();
  }
}

// A stuck child must not keep the bench alive: give up well after the longest honest run.
const watchdog = setTimeout(() => {
  process.stderr.write('bench: timed out\n');
  for (const child of children) child.kill('SIGKILL');
  process.exit(2);
}, ((TARGETS.length + RESOURCE_TARGETS.length) * (WARMUP + DURATION + 60)) * 1000);
watchdog.unref();

try {
  process.exitCode = (await main()) ? 0 : 1;
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  for (const child of children) child.kill();
  process.exitCode = 1;
}

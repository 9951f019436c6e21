import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createLogger, logDestination } from '../../src/logger.js';

/**
 * What every request meets first (src/http/front-door.ts): security headers by kind of answer, a request id echoed
 * as X-Request-Id and named in the request's one log line, which carries no query string.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the front door', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** The request log lines, parsed. */
  const requestLines = () =>
    server.logs
      .flatMap((chunk) => chunk.split('\n'))
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request');

  it('gives pages the full browser policy and no-store (threat model D3)', async () => {
    const res = await fetch(`${server.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(res.headers.get('permissions-policy')).toContain('publickey-credentials-get');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-request-id')).toMatch(UUID);
  });

  it.each([
    [
      'the token endpoint',
      () =>
        fetch(`${server.url}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials',
        }),
    ],
    ['discovery', () => fetch(`${server.url}/.well-known/openid-configuration`)],
    ['the keys', () => fetch(`${server.url}/jwks`)],
    ['the resource API', () => fetch(`${server.url}/api/me`)],
  ])('gives %s the machine policy: nothing loaded, no framing, no sniffing', async (_name, send) => {
    const res = await send();
    expect(res.headers.get('content-type')).toMatch(/json/);
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBeNull();
    expect(res.headers.get('x-request-id')).toMatch(UUID);
    await res.arrayBuffer();
  });

  it('writes one line per request with its id, method, path without the query, status and time', async () => {
    const res = await fetch(`${server.url}/no/such/page?secret=s3cr3t-value`);
    await res.arrayBuffer();
    const id = res.headers.get('x-request-id');
    const line = requestLines().find((l) => l.requestId === id);
    expect(line).toMatchObject({ method: 'GET', path: '/no/such/page', status: res.status });
    expect(typeof line!.ms).toBe('number');
    expect(server.logs.join('')).not.toContain('s3cr3t-value');
    // Each request its own id.
    const again = await fetch(`${server.url}/no/such/page`);
    await again.arrayBuffer();
    expect(again.headers.get('x-request-id')).not.toBe(id);
  });

  it('names an interaction by its route, not by its id', async () => {
    const res = await fetch(`${server.url}/interaction/some-interaction-id-123`);
    await res.arrayBuffer();
    const line = requestLines().find((l) => l.requestId === res.headers.get('x-request-id'));
    expect(line).toMatchObject({ path: '/interaction/:uid' });
  });
});

describe('the log destination', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-log-'));

  it("writes a quiet server's lines within a fraction of a second", async () => {
    const file = path.join(dir, 'quiet.log');
    const logger = createLogger('info', logDestination(file));
    logger.info({ n: 1 }, 'first line');
    const deadline = Date.now() + 2000;
    let text = '';
    while (Date.now() < deadline && !text.includes('first line')) {
      await sleep(50);
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        // Not created yet.
      }
    }
    expect(text).toContain('"msg":"first line"');
  });

  it('writes lines with text beyond ASCII whole, each on its own line', async () => {
    const file = path.join(dir, 'unicode.log');
    const logger = createLogger('info', logDestination(file));
    const names = ['Zoë', '東京', 'emoji 🚀', 'plain'];
    for (const name of names) logger.info({ name }, 'named');
    let lines: { name?: string }[] = [];
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && lines.length < names.length) {
      await sleep(50);
      try {
        lines = readFileSync(file, 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as { name?: string });
      } catch {
        // Not created or not complete yet.
      }
    }
    expect(lines.map((line) => line.name)).toEqual(names);
  });

  it('writes every buffered line to standard output when the process exits', () => {
    // As src/main.ts does on a failed start: a fatal line, then exit at once.
    const script = `
      import { createLogger } from './src/logger.ts';
      const logger = createLogger('info');
      for (let i = 0; i < 10; i++) logger.info({ i }, 'line before exit');
      logger.fatal('last words');
      process.exit(3);
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: process.cwd(),
      encoding: 'utf8',
    });
    expect(run.status).toBe(3);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string });
    expect(lines.filter((l) => l.msg === 'line before exit')).toHaveLength(10);
    expect(lines.at(-1)!.msg).toBe('last words');
  });
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { loadConfig, ConfigError } from '../../src/config.js';

/**
 * Slow requests are cut off (docs/threat-model.md H7): a client that sends its headers, or its body, a few bytes at a
 * time cannot hold a connection (and a handler waiting for the body) open past HEADERS_TIMEOUT_MS and
 * REQUEST_TIMEOUT_MS. Node's own defaults would let it go on for a minute (headers) or five (the whole request).
 */

const HEADERS_MS = 600;
const REQUEST_MS = 1500;

interface Trickled {
  /** What the server sent back before closing. */
  reply: string;
  /** Milliseconds from the first byte sent to the connection's end. */
  ms: number;
  /** Bytes the client had sent when the server closed: never a whole request here. */
  sent: number;
}

/** Sends `head` at once, then one of `drip` every `everyMs` until the server closes the connection or `giveUpMs`. */
function trickle(port: number, head: string, drip: string, everyMs: number, giveUpMs: number): Promise<Trickled> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let started = 0;
    let timer: NodeJS.Timeout | undefined;
    let sent = 0;
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server still held the connection after ${giveUpMs} ms`));
    }, giveUpMs);
    socket.on('connect', () => {
      started = Date.now();
      socket.write(head);
      sent = Buffer.byteLength(head);
      timer = setInterval(() => {
        if (!socket.writable) return;
        socket.write(drip);
        sent += Buffer.byteLength(drip);
      }, everyMs);
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ reply: Buffer.concat(chunks).toString('latin1'), ms: Date.now() - started, sent });
    });
  });
}

describe('slow requests (threat model H7)', () => {
  let server: TestServer;
  let port: number;
  beforeAll(async () => {
    server = await startTestServer({ env: { HEADERS_TIMEOUT_MS: String(HEADERS_MS), REQUEST_TIMEOUT_MS: String(REQUEST_MS) } });
    port = server.config.PORT;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('cuts off a client that sends its headers slowly with 408 once HEADERS_TIMEOUT_MS has passed', async () => {
    const head = 'POST /token HTTP/1.1\r\nHost: localhost\r\n';
    const result = await trickle(port, head, 'X-Slow: a\r\n', 100, 8000);
    expect(result.reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.ms).toBeGreaterThanOrEqual(HEADERS_MS - 50);
    expect(result.ms).toBeLessThan(HEADERS_MS + 1500);
  });

  it('cuts off a client that trickles its body with 408 once REQUEST_TIMEOUT_MS has passed', async () => {
    const head =
      'POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n';
    const result = await trickle(port, head, 'g', 100, 8000);
    expect(result.sent - Buffer.byteLength(head)).toBeLessThan(4000);
    expect(result.reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(result.ms).toBeGreaterThanOrEqual(REQUEST_MS - 50);
    expect(result.ms).toBeLessThan(REQUEST_MS + 1500);
  });

  it('still answers a request that arrives in time', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
  });
});

describe('the slow-request settings', () => {
  it('default to 30 s for a whole request and 10 s for its headers', () => {
    expect(loadConfig({})).toMatchObject({ REQUEST_TIMEOUT_MS: 30000, HEADERS_TIMEOUT_MS: 10000 });
  });

  it("refuse a header limit longer than the whole request's, saying how to fix it", () => {
    let error: unknown;
    try {
      loadConfig({ REQUEST_TIMEOUT_MS: '5000', HEADERS_TIMEOUT_MS: '8000' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      expect.stringMatching(/^HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS \(5000\)/),
    ]);
  });
});

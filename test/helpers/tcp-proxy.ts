import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTestSchema } from './services.js';

/**
 * A TCP proxy on 127.0.0.1 in front of a service (Postgres, Redis), so a test can make that service fail the way it
 * does in production without touching the real one: `down()` is a stopped service (open connections cut, new ones
 * refused), `stall()` is a hung one (connections accepted, nothing answered), `up()` brings it back on the same port.
 */
export class TcpProxy {
  private server?: net.Server;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private stalled = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  /** Connections currently open to the service through this proxy. */
  get openConnections(): number {
    return this.pairs.size;
  }

  async start(): Promise<this> {
    await this.listen();
    return this;
  }

  /** Rewrites a service URL so that it goes through this proxy. */
  through(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  /** The service stops: every connection is cut and the port refuses new ones. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const pair of this.pairs) this.cut(pair);
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The service hangs: bytes stop flowing both ways on open connections, and new ones are accepted but never answered. */
  stall(): void {
    this.stalled = true;
    for (const { client, upstream } of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  /** The service is back: listening again on the same port, and stalled connections flow again. */
  async up(): Promise<void> {
    this.stalled = false;
    for (const { client, upstream } of this.pairs) {
      client.resume();
      upstream.resume();
    }
    if (!this.server) await this.listen();
  }

  async stop(): Promise<void> {
    await this.down();
  }

  private cut(pair: { client: net.Socket; upstream: net.Socket }): void {
    pair.client.destroy();
    pair.upstream.destroy();
    this.pairs.delete(pair);
  }

  private async listen(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      const pair = { client, upstream };
      this.pairs.add(pair);
      const close = () => this.cut(pair);
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      client.pipe(upstream);
      upstream.pipe(client);
      if (this.stalled) {
        client.pause();
        upstream.pause();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }
}

/**
 * A fresh Postgres schema and the shared Redis, each behind a TcpProxy, for a test server whose storage the test
 * stops or hangs (threat model H1–H3). `storage` and `env` go to startTestServer; `close()` undoes it all.
 */
export async function proxiedStorage(databaseUrl: string, redisUrl: string, dataDirPrefix: string) {
  const postgres = await new TcpProxy('127.0.0.1', Number(new URL(databaseUrl).port || 5432)).start();
  const redis = await new TcpProxy('127.0.0.1', Number(new URL(redisUrl).port || 6379)).start();
  const schema = await createTestSchema(databaseUrl);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), dataDirPrefix));
  return {
    postgres,
    redis,
    storage: { dataDir, databaseUrl: postgres.through(schema.url) },
    env: { REDIS_URL: redis.through(redisUrl) },
    /** After the server stopped: both services back, the schema dropped, the proxies closed, DATA_DIR removed. */
    async close() {
      await schema.drop();
      await postgres.stop();
      await redis.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

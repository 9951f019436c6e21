import http from 'node:http';
import type { Socket } from 'node:net';
import { closeServer, listenLocally } from '../fakes/local-server.js';

/**
 * What the gateway does instead of forwarding a request under a path prefix:
 * - 500: answers 500 echoing everything oauth3 sent (Authorization decoded, the form with the refresh token and
 *   client secret), the worst a broken provider can do to a client that logs or passes on error bodies (G2);
 * - hang: never answers, so oauth3's UPSTREAM_TIMEOUT_MS must end the call.
 */
export type GatewayFault = '500' | 'hang';

/**
 * A hop on 127.0.0.1 in front of a fake upstream (test/fakes/oauth-provider.ts): forwards every request unchanged
 * unless a fault is set for its path, and records every form posted to /token, so a test can see which refresh
 * token oauth3 spent and how often, across several oauth3 processes.
 */
export class FaultyGateway {
  url = '';
  /** Every form body sent to /token, in arrival order. */
  readonly tokenForms: URLSearchParams[] = [];
  private readonly faults = new Map<string, GatewayFault>();
  private readonly hanging = new Set<Socket>();
  private server?: http.Server;

  constructor(private readonly target: () => string) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.url = await listenLocally(this.server);
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.hanging) socket.destroy();
    await closeServer(this.server);
  }

  /** Sets (or, with undefined, clears) the fault for requests whose path starts with `prefix`. */
  fault(prefix: string, kind: GatewayFault | undefined): void {
    if (kind) this.faults.set(prefix, kind);
    else this.faults.delete(prefix);
  }

  /** The refresh tokens oauth3 presented at /token, in order. */
  refreshTokensSpent(): string[] {
    return this.tokenForms.filter((f) => f.get('grant_type') === 'refresh_token').map((f) => f.get('refresh_token') ?? '');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const path = req.url ?? '/';
    if (path.startsWith('/token')) this.tokenForms.push(new URLSearchParams(body.toString('utf8')));

    const fault = [...this.faults].find(([prefix]) => path.startsWith(prefix))?.[1];
    if (fault === 'hang') {
      this.hanging.add(req.socket);
      return;
    }
    if (fault === '500') {
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: 'server_error',
          echo: {
            path,
            authorization: req.headers.authorization ?? null,
            basic: basic ? Buffer.from(basic, 'base64').toString('utf8') : null,
            body: body.toString('utf8'),
          },
        }),
      );
      return;
    }

    const headers: Record<string, string> = {};
    for (const name of ['authorization', 'content-type', 'accept']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const upstream = await fetch(`${this.target()}${path}`, {
      method: req.method ?? 'GET',
      headers,
      redirect: 'manual',
      ...(body.length ? { body } : {}),
    });
    const out: Record<string, string> = {};
    for (const name of ['content-type', 'location']) {
      const value = upstream.headers.get(name);
      if (value) out[name] = value;
    }
    res.writeHead(upstream.status, out);
    res.end(Buffer.from(await upstream.arrayBuffer()));
  }
}

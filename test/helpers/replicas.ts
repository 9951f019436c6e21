import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { projectRoot } from '../../src/paths.js';
import { freePort } from './server.js';

/**
 * The load balancer in front of replicas: an HTTP proxy that sends each request to the replica the test names
 * (`target`), or to each in turn (`'alternate'`), keeping the Host header so every replica sees the one issuer.
 */
export class LoadBalancer {
  target: number | 'alternate' = 0;
  private turn = 0;
  private server?: http.Server;
  port = 0;
  /** Which replica answered each request, in order. */
  readonly served: number[] = [];

  constructor(private readonly replicaPorts: () => number[]) {}

  get url(): string {
    return `http://localhost:${this.port}`;
  }

  async start(port = 0): Promise<this> {
    this.server = http.createServer((req, res) => {
      const ports = this.replicaPorts();
      const index = this.target === 'alternate' ? this.turn++ % ports.length : this.target;
      this.served.push(index);
      const upstream = http.request(
        { host: '127.0.0.1', port: ports[index], method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => {
        res.statusCode = 502;
        res.end();
      });
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** One oauth3 server as its own operating-system process (`src/main.ts` through tsx), as a replica runs. */
export class ServerProcess {
  private child?: ChildProcess;
  readonly output: string[] = [];
  port = 0;

  /** `nodeArgs`: Node flags before the server's own (a module hook, say). */
  constructor(
    private readonly env: Record<string, string>,
    private readonly nodeArgs: string[] = [],
  ) {}

  async start(): Promise<this> {
    this.port = await freePort();
    this.child = spawn(process.execPath, [...this.nodeArgs, '--import', 'tsx', 'src/main.ts'], {
      cwd: projectRoot,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        METRICS_PORT: '0',
        ...this.env,
        PORT: String(this.port),
        HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (chunk) => this.output.push(String(chunk)));
    this.child.stderr!.on('data', (chunk) => this.output.push(String(chunk)));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`server process exited with ${this.child.exitCode}:\n${this.output.join('')}`);
      const ok = await fetch(`http://127.0.0.1:${this.port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return this;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`server process did not become healthy:\n${this.output.join('')}`);
  }

  /** The process id (the primary's, with WORKERS > 1). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Waits until the output holds a line matching `pattern`, and returns that line. */
  async waitFor(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.output
        .join('')
        .split('\n')
        .find((l) => pattern.test(l));
      if (line) return line;
      if (Date.now() > deadline) throw new Error(`no line matching ${pattern} in:\n${this.output.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** SIGTERM, then the exit code. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }
}

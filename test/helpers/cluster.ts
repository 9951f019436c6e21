import { ServerProcess } from './replicas.js';
import { freePort } from './server.js';
import { rawRequest } from './raw-http.js';

/**
 * oauth3 with WORKERS=2 as its own process (src/main.ts through tsx): a primary and two workers sharing one port
 * through node:cluster, which hands each new connection to the workers in turn. Which worker answered is read from
 * the worker's request log line, found by the answer's X-Request-Id.
 */
export class ClusterProcess {
  process!: ServerProcess;
  metricsPort = 0;

  constructor(private readonly env: Record<string, string>) {}

  get url(): string {
    return `http://localhost:${this.process.port}`;
  }

  async start(): Promise<this> {
    this.metricsPort = await freePort();
    this.process = new ServerProcess({ WORKERS: '2', METRICS_PORT: String(this.metricsPort), METRICS_HOST: '127.0.0.1', ...this.env });
    await this.process.start();
    await this.process.waitFor(/"msg":"worker 1 is ready"/);
    await this.process.waitFor(/"msg":"worker 2 is ready"/);
    return this;
  }

  /** The pid of the worker in `slot`, from the primary's latest "ready" line for it. */
  workerPid(slot: number): number {
    const lines = this.lines().filter((l) => l.msg === `worker ${slot} is ready` || l.msg === `worker ${slot} is ready again`);
    return Number(lines.at(-1)?.pid);
  }

  /** Every JSON log line so far. */
  lines(): Array<Record<string, unknown>> {
    return this.process.output
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** One request on a connection of its own (so the next goes to the other worker), and which worker answered it. */
  async send(
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<{ status: number; body: Record<string, unknown>; worker: number }> {
    const res = await rawRequest(`http://127.0.0.1:${this.process.port}`, path, {
      ...init,
      headers: { host: `localhost:${this.process.port}`, connection: 'close', ...init.headers },
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {},
      worker: await this.answeredBy(res),
    };
  }

  /** The worker whose request line carries this answer's request id (its log lines are flushed within 200 ms). */
  async answeredBy(res: Response): Promise<number> {
    const id = res.headers.get('x-request-id');
    if (!id) throw new Error(`no X-Request-Id on an answer ${res.status}`);
    const line = await this.process.waitFor(new RegExp(`"requestId":"${id}"`), 5000);
    return Number((JSON.parse(line) as { worker: number }).worker);
  }

  async metrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    if (res.status !== 200) throw new Error(`metrics answered ${res.status}`);
    return res.text();
  }
}

/** The value of one series in a Prometheus text exposition, 0 when absent. */
export function seriesValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

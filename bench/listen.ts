import type http from 'node:http';
import net from 'node:net';
import type { Metrics } from '../src/metrics/metrics.js';

/** What a target sent its storage so far: SQL statements, Redis commands (absent where it has no such storage). */
export interface StorageCounts {
  statements?: number;
  redisCommands?: number;
}

export interface RunningTarget {
  url: string;
  /**
   * Stops the server; `stored` counts the rows our server wrote (tokens, or access-log rows for the resource API),
   * proof that each response reached storage.
   */
  stop(): Promise<{ stored?: number }>;
  /** Its storage counts, read before and after the measured window; targets without storage have none. */
  counts?(): Promise<StorageCounts>;
  /** A server in processes of its own: their CPU time so far (µs), instead of the target process's; unknown off Linux. */
  cpuMicros?(): number | undefined;
  /** …and the highest resident-set high-water mark among them (bytes), read before it stops. */
  peakRssBytes?(): number | undefined;
}

/** Our server's counts, from its Prometheus counters (what GET /metrics shows on METRICS_PORT). */
export async function storageCounts(metrics: Metrics): Promise<StorageCounts> {
  const [statements, redisCommands] = await Promise.all([
    metrics.counterValue('oauth3_db_statements_total'),
    metrics.counterValue('oauth3_redis_commands_total'),
  ]);
  return { ...(statements !== undefined ? { statements } : {}), ...(redisCommands !== undefined ? { redisCommands } : {}) };
}

export async function listen(server: http.Server, port: number, cleanup: () => Promise<void>): Promise<RunningTarget> {
  server.keepAliveTimeout = 5000; // as startServer does
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await cleanup();
      return {};
    },
  };
}

/** A port of 127.0.0.1 free at this moment. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import type { Metrics } from './metrics.js';
import { listenTcp, METRICS_LISTENER } from '../http/listen.js';

export interface MetricsListener {
  url: string;
  close(): Promise<void>;
}

/**
 * The Prometheus scrape endpoint, `GET /metrics`, on its own port (METRICS_PORT): a Service or Ingress publishing the
 * app never publishes it, and a scrape never competes with the app's routes, CSP or rate limits.
 */
export async function listenMetrics(
  /** One app's metrics, or several workers' gathered by the cluster's primary (src/cluster/primary.ts). */
  metrics: Pick<Metrics, 'scrape' | 'contentType'>,
  port: number,
  host: string | undefined,
  logger: Logger,
  /** The app's limits on slow requests (src/http/timeouts.ts). */
  options: http.ServerOptions = {},
): Promise<MetricsListener> {
  const server = http.createServer(options, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at GET /metrics\n');
      return;
    }
    metrics.scrape().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        logger.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n');
      },
    );
  });
  server.keepAliveTimeout = 5000;
  await listenTcp(server, port, host, METRICS_LISTENER);
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

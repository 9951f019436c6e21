import type http from 'node:http';
import net from 'node:net';

export interface RunningTarget {
  url: string;
  /**
   * Stops the server; `stored` counts the rows our server wrote (tokens, or access-log rows for the resource API),
   * proof that each response reached storage.
   */
  stop(): Promise<{ stored?: number }>;
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

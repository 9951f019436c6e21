import type http from 'node:http';

/**
 * Graceful stop of an HTTP server: no new connections from now on, idle keep-alive connections closed at once,
 * requests in flight allowed to finish within `timeoutMs`, then every connection still open is cut. Resolves
 * once the server is fully closed; `cut` says whether the deadline had to be used.
 */
export function drainHttpServer(server: http.Server, timeoutMs: number): Promise<{ cut: boolean }> {
  return new Promise((resolve) => {
    let cut = false;
    const deadline = setTimeout(() => {
      cut = true;
      server.closeAllConnections();
    }, timeoutMs);
    server.close(() => {
      clearTimeout(deadline);
      resolve({ cut });
    });
    // Node 19+ does this inside close(); said explicitly so an idle keep-alive connection never holds the process.
    server.closeIdleConnections();
  });
}

import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ListenError } from '../http/listen.js';

/**
 * On embedded storage only the server may open the database, so the admin CLI hands its command to the running
 * server over a Unix socket in DATA_DIR. The socket is mode 0600: whoever may use it could read DATA_DIR anyway.
 */
export const adminSocketPath = (dataDir: string) => path.join(path.resolve(dataDir), 'admin.sock');

export interface AdminReply {
  code: number;
  out: string[];
  err: string[];
}

export type AdminHandler = (argv: string[]) => Promise<AdminReply>;

export async function listenAdminSocket(socketPath: string, handle: AdminHandler): Promise<net.Server> {
  rmSync(socketPath, { force: true });
  const server = net.createServer((socket) => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      buffer += String(chunk);
      if (buffer.length > 64 * 1024) socket.destroy();
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      let argv: unknown;
      try {
        argv = JSON.parse(buffer.slice(0, newline));
      } catch {
        argv = undefined;
      }
      const reply =
        Array.isArray(argv) && argv.every((a) => typeof a === 'string')
          ? handle(argv).catch((): AdminReply => ({ code: 70, out: [], err: ['The server could not run this command; see its log.'] }))
          : Promise.resolve<AdminReply>({ code: 64, out: [], err: ['malformed admin request'] });
      void reply.then((r) => socket.end(JSON.stringify(r) + '\n'));
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      // A folder that cannot hold a socket (read-only, not a local file system, a path longer than Unix sockets allow).
      const why = error.code === 'EADDRINUSE' ? 'in use' : (error.code ?? error.message);
      reject(
        new ListenError(
          `The admin socket ${socketPath} cannot be opened (${why}): set DATA_DIR to a writable local folder with a shorter path.`,
          error.code ?? 'EIO',
        ),
      );
    });
    server.listen(socketPath, resolve);
  });
  chmodSync(socketPath, 0o600);
  return server;
}

/** Sends a command to the server; undefined when no server answers on the socket. */
export async function sendToServer(socketPath: string, argv: string[]): Promise<AdminReply | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    let data = '';
    socket.setEncoding('utf8');
    socket.setTimeout(30_000, () => socket.destroy());
    socket.on('connect', () => socket.write(JSON.stringify(argv) + '\n'));
    socket.on('data', (chunk) => (data += String(chunk)));
    socket.on('error', () => resolve(undefined));
    socket.on('close', () => {
      try {
        resolve(JSON.parse(data) as AdminReply);
      } catch {
        resolve(undefined);
      }
    });
  });
}

import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths that may hold a secret in anything we log. Request logs carry only method, path (no query string), status
 * and timing, so this list is the second line of defence, not the first (threat model B8, G2).
 */
const redact = [
  'password',
  'secret',
  'token',
  'code',
  'code_verifier',
  'client_secret',
  'refresh_token',
  'access_token',
  'authorization',
  'cookie',
  '*.password',
  '*.secret',
  '*.token',
  '*.code',
  '*.code_verifier',
  '*.client_secret',
  '*.refresh_token',
  '*.access_token',
  '*.authorization',
  '*.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  // Named as well as matched by `*.code`, so that the censor below is told this path rather than the wildcard's.
  'err.code',
];

/**
 * An OAuth `code` is redacted wherever it sits (`code`, `*.code`), but an error's `code` is what an operator needs
 * to read (EADDRINUSE, ECONNREFUSED, a Postgres SQLSTATE, an AppError's code): pino serialises errors under `err`, and
 * nothing puts an authorization code there (docs/threat-model.md I6).
 */
function censor(value: unknown, path: string[]): unknown {
  return path.length === 2 && path[0] === 'err' && path[1] === 'code' ? value : '[redacted]';
}

/** Lines are written in blocks of about this many bytes... */
const BLOCK_BYTES = 4096;
/** ...or after this long, whichever comes first. */
const FLUSH_EVERY_MS = 200;

/**
 * Where log lines go unless a test passes a stream of its own: standard output (or a file), written asynchronously in
 * blocks of about 4 KiB, and at least every 200 ms. A busy server then makes one write for some thirty request lines
 * instead of a system call for each, which cost the token endpoint more than the rest of its logging. pino writes
 * what is left when the process exits; only a killed process (SIGKILL) loses its last 200 ms of lines.
 */
export function logDestination(dest: number | string = 1): DestinationStream {
  const stream = pino.destination({ dest, sync: false, minLength: BLOCK_BYTES, contentMode: 'buffer' });
  setInterval(() => {
    try {
      stream.flush();
    } catch {
      // The file is not open yet, or the stream has ended: the next tick, if any, will do.
    }
  }, FLUSH_EVERY_MS).unref();
  // Each line is handed over as bytes, which the stream keeps in a list until the block is written. Handed over as
  // text, it is appended to the block's text, which is measured again in bytes for every line: a copy of the whole
  // block so far per line, a few kilobytes of garbage per request.
  return {
    write: (line: string) => stream.write(Buffer.from(line) as unknown as string),
    flush: (done?: (error?: Error) => void) => stream.flush(done),
    flushSync: () => stream.flushSync(),
  } as DestinationStream;
}

export function createLogger(level: string, destination: DestinationStream = logDestination()): Logger {
  return pino({ level, redact: { paths: redact, censor }, base: undefined }, destination);
}

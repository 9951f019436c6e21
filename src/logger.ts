import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths that may hold a secret in anything we log. Request logs carry only method, path (no query string), status
 * and timing, so this list is the second line of defence, not the first (SECURITY.md B8, G2).
 */
const redact = [
  'password', 'secret', 'token', 'code', 'code_verifier', 'client_secret', 'refresh_token', 'access_token',
  'authorization', 'cookie', '*.password', '*.secret', '*.token', '*.code', '*.code_verifier', '*.client_secret',
  '*.refresh_token', '*.access_token', '*.authorization', '*.cookie', 'req.headers.authorization', 'req.headers.cookie',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: redact, censor: '[redacted]' }, base: undefined }, destination);
}

import { describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger.js';

/**
 * The error log keeps error codes (docs/threat-model.md I6): an operator reading "oauth3 could not start" must see
 * EADDRINUSE, while an OAuth authorization code stays redacted wherever a log line could carry one.
 */

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const logger = createLogger('info', sink);
  return { logger, lines, flush: () => new Promise<void>((resolve) => setImmediate(resolve)) };
}

/** A real EADDRINUSE: listening twice on one port. */
async function addressInUse(): Promise<NodeJS.ErrnoException> {
  const first = net.createServer();
  await new Promise<void>((resolve) => first.listen(0, '127.0.0.1', resolve));
  const { port } = first.address() as net.AddressInfo;
  const second = net.createServer();
  const error = await new Promise<NodeJS.ErrnoException>((resolve) => {
    second.once('error', resolve);
    second.listen(port, '127.0.0.1');
  });
  await new Promise<void>((resolve) => first.close(() => resolve()));
  return error;
}

describe('the error log (threat model I6)', () => {
  it('shows the code of an error that stopped the start, such as EADDRINUSE', async () => {
    const { logger, lines, flush } = capture();
    const error = await addressInUse();
    expect(error.code).toBe('EADDRINUSE');
    // As src/main.ts logs it (and every `{ err }` line in src/).
    logger.fatal({ err: error }, 'oauth3 could not start');
    await flush();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.err).toMatchObject({ code: 'EADDRINUSE', message: expect.stringContaining('EADDRINUSE') });
    expect(JSON.stringify(lines)).not.toContain('[redacted]');
  });

  it('still redacts an authorization code wherever a line carries one', async () => {
    const { logger, lines, flush } = capture();
    const code = 'authz-code-Vx8qL2mN4pR6tY0wZ3bC5dF7';
    logger.info({ code }, 'top level');
    logger.info({ params: { code, state: 'xyz' } }, 'parameters');
    logger.info({ query: { code } }, 'query');
    logger.info({ body: { code, grant_type: 'authorization_code' } }, 'body');
    logger.warn({ err: { name: 'Error' }, upstream: { code } }, 'beside an error');
    await flush();
    expect(lines).toHaveLength(5);
    expect(JSON.stringify(lines)).not.toContain(code);
    expect(lines[0]!.code).toBe('[redacted]');
    expect(lines[1]!.params).toEqual({ code: '[redacted]', state: 'xyz' });
    expect(lines[3]!.body).toEqual({ code: '[redacted]', grant_type: 'authorization_code' });
  });
});

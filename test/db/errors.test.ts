import { describe, expect, it } from '@jest/globals';
import { conflicted, refusedData } from '../../src/db/errors.js';

/**
 * Which database errors a shared statement (src/db/coalesce.ts) retries call by call: a value one request sent that
 * the database refused, or a conflict with another statement; never a connection failure or a timeout, which fail
 * every call (closed).
 */
describe('database errors', () => {
  const error = (code: unknown) => Object.assign(new Error('x'), { code });

  it('tells a refused value by its SQLSTATE class (21, 22, 23)', () => {
    for (const code of ['21000', '22P05', '22021', '23505']) expect(refusedData(error(code))).toBe(true);
    for (const code of ['40P01', '57014', '08006', 'ECONNREFUSED', 42]) expect(refusedData(error(code))).toBe(false);
    expect(refusedData(new Error('no code'))).toBe(false);
    expect(refusedData(undefined)).toBe(false);
  });

  it('tells a deadlock or serialization failure, and nothing else, as a conflict', () => {
    expect(conflicted(error('40P01'))).toBe(true);
    expect(conflicted(error('40001'))).toBe(true);
    for (const code of ['22P05', '57014', '08006', '40', 'ECONNRESET']) expect(conflicted(error(code))).toBe(false);
    expect(conflicted(null)).toBe(false);
  });
});

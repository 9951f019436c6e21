/**
 * A real TDX quote recorded on Intel hardware (test/fixtures/tdx, from dcap-qvl's samples) under dcap-qvl with Intel's
 * production root: it verifies as of a date inside its collateral's validity, and is refused today (its collateral has
 * expired) and when tampered with. This pins the verifier against real Intel data, which the fake platform cannot do.
 */
import { describe, it, expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { verify, type Collateral } from '@phala/dcap-qvl';

const dir = path.resolve(import.meta.dirname, '../fixtures/tdx');
const quote = readFileSync(path.join(dir, 'tdx_quote'));
const collateral = JSON.parse(readFileSync(path.join(dir, 'tdx_quote_collateral.json'), 'utf8')) as Collateral;
// The collateral is valid from 2025-06-19 to 2025-07-19.
const asOf = Date.parse('2025-07-01T00:00:00Z') / 1000;

describe('a recorded real TDX quote under Intel production root', () => {
  it('verifies as of 2025-07-01, UpToDate', () => {
    const verified = verify(quote, collateral, asOf);
    expect(verified.status).toBe('UpToDate');
    const td = verified.report.asTd10();
    if (!td) throw new Error('not a TD report');
    expect(Buffer.from(td.reportData).toString('hex')).toBe(
      '9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20',
    );
  });

  it('is refused today, its collateral having expired', () => {
    expect(() => verify(quote, collateral, Math.floor(Date.now() / 1000))).toThrow('TCBInfo expired');
  });

  it('is refused when a byte of its TD report is flipped', () => {
    const tampered = Buffer.from(quote);
    tampered.writeUInt8(tampered.readUInt8(600) ^ 0x01, 600); // inside REPORTDATA
    expect(() => verify(tampered, collateral, asOf)).toThrow('ISV enclave report signature is invalid');
  });
});

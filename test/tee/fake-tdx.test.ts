/**
 * Proves the fake TDX platform (test/helpers/fake-tdx.ts) against the real dcap-qvl verifier: its quotes verify when the
 * fake root CA is trusted, carry exactly the measurements and report data asked for, and are refused when tampered with,
 * when debug is on, after the collateral expires, and always under Intel's production root; and its fake PCCS serves
 * what dcap-qvl's getCollateral asks for.
 */
import { describe, it, expect, beforeAll } from '@jest/globals';
import { createHash } from 'node:crypto';
import { QuoteVerifier, getCollateral, verify } from '@phala/dcap-qvl';
import { createFakeTdx, type FakeTdx } from '../helpers/fake-tdx.js';

const nowSecs = (): number => Math.floor(Date.now() / 1000);
const reportData = createHash('sha512').update('nonce and issuer binding').digest();
const rtmrs = [0, 1, 2, 3].map((i) => createHash('sha384').update(`rtmr${i}`).digest());
const mrTd = createHash('sha384').update('a TD image').digest();

let fake: FakeTdx;

beforeAll(async () => {
  fake = await createFakeTdx();
});

describe('fake TDX quotes under dcap-qvl', () => {
  it('verify against the fake root CA, UpToDate, with the report data and measurements asked for', () => {
    const quote = fake.quote({ reportData, rtmrs, mrTd });
    const verified = QuoteVerifier.newWithRootCa(fake.rootCaDer).verify(quote, fake.collateral, nowSecs());
    expect(verified.status).toBe('UpToDate');
    expect(verified.report.type).toBe('td10');
    const td = verified.report.asTd10();
    if (!td) throw new Error('not a TD report');
    expect(Buffer.from(td.reportData)).toEqual(reportData);
    expect([td.rtMr0, td.rtMr1, td.rtMr2, td.rtMr3].map((r) => Buffer.from(r))).toEqual(rtmrs);
    expect(Buffer.from(td.mrTd)).toEqual(mrTd);
    expect(Buffer.from(td.tdAttributes)[0]).toBe(0);
  });

  it('default to zero RTMRs and a fixed MRTD', () => {
    const a = QuoteVerifier.newWithRootCa(fake.rootCaDer).verify(fake.quote({ reportData }), fake.collateral, nowSecs());
    const b = QuoteVerifier.newWithRootCa(fake.rootCaDer).verify(fake.quote({ reportData }), fake.collateral, nowSecs());
    const tdA = a.report.asTd10();
    const tdB = b.report.asTd10();
    if (!tdA || !tdB) throw new Error('not a TD report');
    expect(Buffer.from(tdA.rtMr3)).toEqual(Buffer.alloc(48));
    expect(Buffer.from(tdA.mrTd)).toEqual(Buffer.from(tdB.mrTd));
    expect(Buffer.from(tdA.mrTd)).not.toEqual(Buffer.alloc(48));
  });

  it('are refused when a byte of the signed TD report is flipped', () => {
    const quote = fake.quote({ reportData, rtmrs, mrTd });
    const tampered = Buffer.from(quote);
    const inReportData = 48 + 584 - 10; // header, then the 584-byte TD report ending in REPORTDATA
    tampered.writeUInt8(tampered.readUInt8(inReportData) ^ 0x01, inReportData);
    expect(() => QuoteVerifier.newWithRootCa(fake.rootCaDer).verify(tampered, fake.collateral, nowSecs())).toThrow(
      'ISV enclave report signature is invalid',
    );
  });

  it('are refused under Intel production root', () => {
    const quote = fake.quote({ reportData });
    expect(() => verify(quote, fake.collateral, nowSecs())).toThrow(/certificate chain/);
    expect(() => QuoteVerifier.newProd().verify(quote, fake.collateral, nowSecs())).toThrow(/certificate chain/);
  });

  it('are refused under another fake platform root', async () => {
    const other = await createFakeTdx();
    expect(() => QuoteVerifier.newWithRootCa(other.rootCaDer).verify(fake.quote({ reportData }), fake.collateral, nowSecs())).toThrow(
      /certificate chain/,
    );
  });

  it('are refused with the debug bit set', () => {
    const quote = fake.quote({ reportData, debug: true });
    expect(() => QuoteVerifier.newWithRootCa(fake.rootCaDer).verify(quote, fake.collateral, nowSecs())).toThrow('Debug mode is enabled');
  });

  it('are refused once the collateral has expired (31 days on) and before it was issued (2 hours ago)', () => {
    const quote = fake.quote({ reportData });
    const verifier = QuoteVerifier.newWithRootCa(fake.rootCaDer);
    expect(() => verifier.verify(quote, fake.collateral, nowSecs() + 31 * 86400)).toThrow('TCBInfo expired');
    expect(() => verifier.verify(quote, fake.collateral, nowSecs() - 2 * 3600)).toThrow('TCBInfo issue date is in the future');
  });

  it('reject inputs of the wrong size', () => {
    expect(() => fake.quote({ reportData: Buffer.alloc(32) })).toThrow('reportData must be 64 bytes');
    expect(() => fake.quote({ reportData, mrTd: Buffer.alloc(32) })).toThrow('mrTd must be 48 bytes');
    expect(() => fake.quote({ reportData, rtmrs: [Buffer.alloc(48)] })).toThrow('rtmrs must be 4 buffers');
  });
});

describe('fake PCCS', () => {
  it('serves the collateral dcap-qvl getCollateral fetches, which then verifies the quote', async () => {
    const pccs = await fake.pccs();
    try {
      const quote = fake.quote({ reportData });
      const fetched = await getCollateral(pccs.url, quote);
      expect(fetched.tcb_info).toBe(fake.collateral.tcb_info);
      expect(fetched.qe_identity).toBe(fake.collateral.qe_identity);
      expect(QuoteVerifier.newWithRootCa(fake.rootCaDer).verify(quote, fetched, nowSecs()).status).toBe('UpToDate');
      expect(pccs.requests.map((r) => r.split('?')[0]).sort()).toEqual([
        '/sgx/certification/v4/pckcrl',
        '/sgx/certification/v4/rootcacrl',
        '/tdx/certification/v4/qe/identity',
        '/tdx/certification/v4/tcb',
      ]);
    } finally {
      await pccs.close();
    }
  });

  it('answers 404 for a TCB info of another platform', async () => {
    const pccs = await fake.pccs();
    try {
      const res = await fetch(`${pccs.url}/tdx/certification/v4/tcb?fmspc=00906ED50000`);
      expect(res.status).toBe(404);
    } finally {
      await pccs.close();
    }
  });
});

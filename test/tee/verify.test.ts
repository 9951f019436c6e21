import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { appComposeFor, runtimeEvent } from '../fakes/dstack-agent.js';
import { canonicalJson, jwksDigest, reportDataFor } from '../../src/tee/report-data.js';
import { checkQuote, replayRtmrs, tcbCheck, verifyAttestation, type AttestationInput, type Check } from '../../src/tee/verify.js';
import type { EventLogEntry } from '../../src/tee/attestation-document.js';
import { startAttestedIssuer, type AttestedIssuer } from './attested-issuer.js';

/** The checks src/tee/verify.ts makes on an instance's attestation, each shown failing on the fault it is there for. */

type Document = Record<string, unknown> & { event_log: EventLogEntry[] };

const ALL_CHECKS = [
  'document',
  'nonce',
  'issuer',
  'trust-root',
  'quote',
  'tdx',
  'tcb',
  'report-data',
  'jwks-sha256',
  'served-keys',
  'event-log',
  'compose-hash',
  'app-id',
  'debug-td',
  'os-image',
];

const byId = (checks: Check[]): Record<string, Check> => Object.fromEntries(checks.map((c) => [c.id, c]));
const failing = (checks: Check[]): string[] => checks.filter((c) => !c.ok).map((c) => c.id);

describe('verifying an attestation (src/tee/verify.ts)', () => {
  let iss: AttestedIssuer;

  beforeAll(async () => {
    iss = await startAttestedIssuer();
  });
  afterAll(() => iss.close());
  afterEach(() => {
    for (const key of Object.keys(iss.tamper)) delete iss.tamper[key as keyof typeof iss.tamper];
  });

  /** Asks the issuer as the command does, with a fresh nonce, and returns what verifyAttestation is given. */
  async function ask(overrides: Partial<Omit<AttestationInput, 'document'>> = {}): Promise<AttestationInput & { document: Document }> {
    const nonce = randomBytes(32);
    const document = (await (await fetch(`${iss.issuer}/attestation?nonce=${nonce.toString('hex')}`)).json()) as Document;
    const liveJwks: unknown = await (await fetch(`${iss.issuer}/jwks`)).json();
    return {
      issuer: iss.issuer,
      nonce,
      document,
      liveJwks,
      collateral: iss.tdx.collateral,
      testRootDer: iss.tdx.rootCaDer,
      allowComposeHashes: [iss.agent.composeHash],
      allowOsImageHashes: [iss.agent.osImageHash],
      now: new Date(),
      ...overrides,
    };
  }

  it('L5 holds on every check for an honest instance, its quote chained to the trusted test root', async () => {
    const verdict = verifyAttestation(await ask());
    expect(verdict.checks.map((c) => c.id)).toEqual(ALL_CHECKS);
    expect(failing(verdict.checks)).toEqual([]);
    expect(verdict).toMatchObject({ ok: true, composeHash: iss.agent.composeHash, appId: iss.agent.appId, tcbStatus: 'UpToDate' });
    const checks = byId(verdict.checks);
    // The test root is said loudly.
    expect(checks['trust-root']).toMatchObject({ ok: true, warning: true, detail: expect.stringContaining('TEST ROOT') });
    expect(checks['os-image']).toMatchObject({ ok: true, detail: expect.stringContaining('one you allowed') });
    expect(checks['served-keys']!.detail).toContain('k1, k2');
  });

  it("refuses the same quote with Intel's root: only the signature chain (and so the TCB status) fails", async () => {
    const verdict = verifyAttestation(await ask({ testRootDer: undefined }));
    expect(verdict.ok).toBe(false);
    expect(failing(verdict.checks)).toEqual(['quote', 'tcb']);
    expect(byId(verdict.checks)['trust-root']!.detail).toContain("Intel's");
    expect(byId(verdict.checks)['report-data']!.detail).toContain('NOT verified');
  });

  it('L6 refuses without collateral, saying why there was none', async () => {
    const verdict = verifyAttestation(
      await ask({ collateral: undefined, collateralError: 'could not get collateral from https://pccs: 503' }),
    );
    expect(byId(verdict.checks).quote).toMatchObject({ ok: false, detail: expect.stringContaining('503') });
  });

  it('L6 refuses a document made for another nonce (a replayed attestation)', async () => {
    iss.tamper.nonce = randomBytes(32).toString('hex');
    const verdict = verifyAttestation(await ask());
    expect(failing(verdict.checks)).toEqual(['nonce', 'report-data']);
  });

  it("refuses a replayed document whose nonce and report_data fields were rewritten to ours: the quote's REPORTDATA still binds the old nonce", async () => {
    const input = await ask();
    const replayed = await ask();
    const ours = reportDataFor({ nonce: input.nonce, issuer: iss.issuer, jwksSha256: jwksDigest(iss.jwks), version: iss.version });
    const document = { ...replayed.document, nonce: input.nonce.toString('hex'), report_data: ours.toString('hex') };
    const verdict = verifyAttestation({ ...input, document });
    expect(failing(verdict.checks)).toEqual(['report-data']);
    expect(byId(verdict.checks)['report-data']!.detail).toContain('REPORTDATA of the verified quote');
  });

  it("refuses another issuer's attestation", async () => {
    iss.tamper.issuer = 'https://other.example';
    const verdict = verifyAttestation(await ask());
    expect(failing(verdict.checks)).toEqual(['issuer', 'report-data']);
    expect(byId(verdict.checks).issuer!.detail).toContain('https://other.example');
  });

  it('L6 refuses when the keys served at jwks_uri are not the attested ones (a key added after the quote)', async () => {
    iss.tamper.servedJwks = { keys: [...iss.jwks.keys, { kty: 'oct', kid: 'k3', k: 'c2VjcmV0' }] };
    const verdict = verifyAttestation(await ask());
    expect(failing(verdict.checks)).toEqual(['served-keys']);
    expect(byId(verdict.checks)['served-keys']!.detail).toContain('served but not attested: k3');
  });

  it('L6 refuses a document whose key set was swapped for the served one: the quote binds the original', async () => {
    const swapped = { keys: [iss.jwks.keys[0]!] };
    iss.tamper.servedJwks = swapped;
    iss.tamper.document = (d) => {
      d.jwks = swapped;
      d.jwks_sha256 = createHash('sha256').update(canonicalJson(swapped)).digest('hex');
    };
    expect(failing(verifyAttestation(await ask()).checks)).toEqual(['report-data']);
  });

  it('L6 refuses a jwks_sha256 field that is not the digest of the key set', async () => {
    iss.tamper.document = (d) => {
      d.jwks_sha256 = '00'.repeat(32);
    };
    expect(failing(verifyAttestation(await ask()).checks)).toEqual(['jwks-sha256']);
  });

  it('L6 refuses a forged runtime event payload that keeps the measured digest', async () => {
    const forged = 'ee'.repeat(32);
    iss.tamper.document = (d) => {
      const event = (d.event_log as EventLogEntry[]).find((e) => e.event === 'compose-hash')!;
      event.event_payload = forged;
      d.compose_hash = forged;
    };
    const verdict = verifyAttestation(await ask({ allowComposeHashes: [forged] }));
    expect(byId(verdict.checks)['event-log']).toMatchObject({ ok: false, detail: expect.stringContaining('"compose-hash"') });
    expect(verdict.ok).toBe(false);
  });

  it('L6 refuses a forged event with a digest recomputed to match: the replay no longer gives the quoted RTMR3', async () => {
    const forged = 'ee'.repeat(32);
    iss.tamper.document = (d) => {
      const log = d.event_log as EventLogEntry[];
      const index = log.findIndex((e) => e.event === 'compose-hash');
      log[index] = runtimeEvent('compose-hash', Buffer.from(forged, 'hex'));
      d.compose_hash = forged;
    };
    const verdict = verifyAttestation(await ask({ allowComposeHashes: [forged] }));
    expect(byId(verdict.checks)['event-log']).toMatchObject({ ok: false, detail: expect.stringContaining('RTMR3') });
  });

  it('accepts runtime events in the V2 digest format (canonical JSON) as well', async () => {
    const input = await ask();
    const log = input.document.event_log.map((e) =>
      e.event_type === 0x08000001
        ? {
            ...e,
            digest: createHash('sha384')
              .update(canonicalJson({ name: e.event, payload: e.event_payload, type: 0x08000001 }))
              .digest('hex'),
          }
        : e,
    );
    const quote = iss.tdx.quote({ reportData: Buffer.from(input.document.report_data as string, 'hex'), rtmrs: replayRtmrs(log) });
    const verdict = verifyAttestation({ ...input, document: { ...input.document, event_log: log, quote: quote.toString('hex') } });
    expect(failing(verdict.checks)).toEqual([]);
  });

  it('L6 refuses a compose hash that is not in the allow-list', async () => {
    const verdict = verifyAttestation(await ask({ allowComposeHashes: ['0x' + 'AB'.repeat(32)] }));
    expect(failing(verdict.checks)).toEqual(['compose-hash']);
    expect(byId(verdict.checks)['compose-hash']!.detail).toContain('not in --allow-compose-hash');
  });

  it('accepts the allowed hash in any case, with or without 0x', async () => {
    const verdict = verifyAttestation(await ask({ allowComposeHashes: [`0x${iss.agent.composeHash.toUpperCase()}`] }));
    expect(verdict.ok).toBe(true);
  });

  it('L6 refuses without an allow-list, and says how to get the expected hash', async () => {
    const verdict = verifyAttestation(await ask({ allowComposeHashes: [] }));
    expect(failing(verdict.checks)).toEqual(['compose-hash']);
    expect(byId(verdict.checks)['compose-hash']!.detail).toMatch(/deploy\/dstack\/render.*--allow-compose-hash/);
  });

  it('L6 refuses an app_compose that is not the measured one', async () => {
    iss.tamper.document = (d) => {
      d.app_compose = appComposeFor('ghcr.io/evil/oauth3:latest');
    };
    const verdict = verifyAttestation(await ask());
    expect(byId(verdict.checks)['compose-hash']).toMatchObject({ ok: false, detail: expect.stringContaining('does not hash') });
  });

  it('warns when the allowed app-compose names its images by tag rather than by digest', async () => {
    expect(byId(verifyAttestation(await ask()).checks)['compose-hash']!.warning).toBeUndefined();
    const tagged = await startAttestedIssuer({ agent: { appCompose: appComposeFor('ghcr.io/example/oauth3:latest') }, tdx: iss.tdx });
    try {
      const nonce = randomBytes(32);
      const document: unknown = await (await fetch(`${tagged.issuer}/attestation?nonce=${nonce.toString('hex')}`)).json();
      const verdict = verifyAttestation({
        issuer: tagged.issuer,
        nonce,
        document,
        liveJwks: tagged.jwks,
        collateral: iss.tdx.collateral,
        testRootDer: iss.tdx.rootCaDer,
        allowComposeHashes: [tagged.agent.composeHash],
        allowOsImageHashes: [tagged.agent.osImageHash],
        now: new Date(),
      });
      expect(verdict.ok).toBe(true);
      expect(byId(verdict.checks)['compose-hash']).toMatchObject({
        ok: true,
        warning: true,
        detail: expect.stringContaining('by tag, not by digest (ghcr.io/example/oauth3:latest)'),
      });
    } finally {
      await tagged.close();
    }
  });

  it('L6 refuses an app id that is not the measured one', async () => {
    iss.tamper.document = (d) => {
      d.app_id = 'aa'.repeat(20);
    };
    expect(failing(verifyAttestation(await ask()).checks)).toEqual(['app-id']);
  });

  it('L6 refuses a TD in debug mode', async () => {
    iss.tamper.debug = true;
    const verdict = verifyAttestation(await ask());
    expect(byId(verdict.checks)['debug-td']).toMatchObject({ ok: false, detail: expect.stringContaining('DEBUG') });
    expect(verdict.ok).toBe(false);
  });

  it('L6 refuses a document that is not an attestation document, with that check alone', () => {
    const verdict = verifyAttestation({
      issuer: iss.issuer,
      nonce: randomBytes(32),
      document: { hello: 'world' },
      liveJwks: iss.jwks,
      allowComposeHashes: [],
      now: new Date(),
    });
    expect(verdict.checks).toEqual([expect.objectContaining({ id: 'document', ok: false })]);
  });

  it('L6 refuses a document whose stated OS image is not the measured one', async () => {
    iss.tamper.document = (d) => {
      d.os_image_hash = 'cd'.repeat(32);
    };
    expect(failing(verifyAttestation(await ask()).checks)).toEqual(['os-image']);
  });
});

describe('the OS image allow-list (development images)', () => {
  const prod = createHash('sha256').update('dstack-0.5.3').digest('hex');
  const dev = createHash('sha256').update('dstack-dev-0.5.3').digest('hex');
  let iss: AttestedIssuer;
  afterEach(() => iss.close());

  async function verdictFor(osImageHash: string, allowOsImageHashes: string[]) {
    iss = await startAttestedIssuer({ agent: { osImageHash } });
    const nonce = randomBytes(32);
    const document: unknown = await (await fetch(`${iss.issuer}/attestation?nonce=${nonce.toString('hex')}`)).json();
    return verifyAttestation({
      issuer: iss.issuer,
      nonce,
      document,
      liveJwks: iss.jwks,
      collateral: iss.tdx.collateral,
      testRootDer: iss.tdx.rootCaDer,
      allowComposeHashes: [iss.agent.composeHash],
      allowOsImageHashes,
      now: new Date(),
    });
  }

  it('L6 refuses an instance whose OS image is not pinned at all: a development image would pass unseen', async () => {
    const verdict = await verdictFor(prod, []);
    expect(failing(verdict.checks)).toEqual(['os-image']);
    expect(byId(verdict.checks)['os-image']!.detail).toMatch(/not one you allowed.*--allow-os-image-hash/);
  });

  it('L6 refuses an instance on a development image when only the production image is allowed', async () => {
    const verdict = await verdictFor(dev, [prod]);
    expect(failing(verdict.checks)).toEqual(['os-image']);
    expect(byId(verdict.checks)['os-image']!.detail).toContain(dev);
  });

  it('accepts the allowed production image without a warning', async () => {
    const verdict = await verdictFor(prod, [prod]);
    expect(verdict.ok).toBe(true);
    expect(byId(verdict.checks)['os-image']).toEqual({ id: 'os-image', ok: true, detail: expect.stringContaining('one you allowed') });
  });
});

describe('the quote alone and TCB statuses', () => {
  it('accepts UpToDate, warns on SWHardeningNeeded and the ConfigurationNeeded statuses, refuses the rest', () => {
    expect(tcbCheck('UpToDate', [])).toEqual({ id: 'tcb', ok: true, detail: expect.any(String) });
    for (const status of ['SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded'])
      expect(tcbCheck(status, ['INTEL-SA-00837'])).toMatchObject({
        ok: true,
        warning: true,
        detail: expect.stringContaining('INTEL-SA-00837'),
      });
    for (const status of ['OutOfDate', 'OutOfDateConfigurationNeeded', 'Revoked', 'Unknown', 'Whatever'])
      expect(tcbCheck(status, [])).toMatchObject({ ok: false, detail: expect.stringContaining('refused') });
  });

  it('says a collateral that expired is not valid at the time asked, and tells how to check a recorded quote', async () => {
    const iss = await startAttestedIssuer();
    try {
      const quote = iss.tdx.quote({ reportData: Buffer.alloc(64) });
      const later = new Date(Date.now() + 60 * 24 * 3600 * 1000);
      const findings = checkQuote({ quote, collateral: iss.tdx.collateral, testRootDer: iss.tdx.rootCaDer, now: later });
      expect(findings.ok).toBe(false);
      expect(byId(findings.checks).quote!.detail).toContain('--at');
      expect(checkQuote({ quote, collateral: iss.tdx.collateral, testRootDer: iss.tdx.rootCaDer, now: new Date() }).ok).toBe(true);
    } finally {
      await iss.close();
    }
  });

  it('L6 refuses bytes that are not a quote', () => {
    const findings = checkQuote({ quote: Buffer.from('not a quote'), now: new Date() });
    expect(findings).toMatchObject({ ok: false, signed: false });
    expect(byId(findings.checks).quote!.detail).toContain('not a DCAP quote');
  });
});

import { createHash, X509Certificate } from 'node:crypto';
import dcap from '@phala/dcap-qvl';
import type { Collateral, TDReport10, VerifiedReport } from '@phala/dcap-qvl';
import { attestationDocument, type AttestationDocument, type EventLogEntry } from './attestation-document.js';
import { canonicalJson, jwksDigest, reportDataFor } from './report-data.js';

/**
 * What `npm run oauth3 -- verify` decides before anyone trusts an instance (docs/verifying.md): that a genuine Intel TDX
 * quote, made for the verifier's own nonce, binds the issuer and the keys it serves to the code the owner expects (the
 * compose hash), on a TD that is not in debug mode. Pure logic: the caller fetches the document, the live JWKS and the
 * collateral and says what time it is; every check comes back as one line in plain words, so that a failure says what
 * it means and the verdict is simply "every check holds".
 */

export interface Check {
  /** A stable name (`--json` consumers match on it). */
  id: string;
  ok: boolean;
  detail: string;
  /** Holds, but with something the reader should know (a test root, a TCB status short of UpToDate, no image pin). */
  warning?: boolean;
}

/** dstack's event type for what the CVM measures at run time into RTMR3. */
export const DSTACK_RUNTIME_EVENT = 0x08000001;

/** Intel's TEE type for TDX in a quote header. */
const TEE_TYPE_TDX = 0x81;

/**
 * TCB statuses, from Intel's TCB info, and what this verifier does with each. The platform's firmware and microcode
 * levels are compared with Intel's list; only the worst of the platform's and the quoting enclave's status counts.
 */
export const TCB_STATUS_MEANING: Record<string, { accept: boolean; meaning: string }> = {
  UpToDate: { accept: true, meaning: 'the platform runs the latest TDX module, microcode and firmware Intel lists' },
  SWHardeningNeeded: {
    accept: true,
    meaning: 'the platform is current, but the advisories listed are mitigated only by software in the guest; accepted with a warning',
  },
  ConfigurationNeeded: {
    accept: true,
    meaning: 'the platform is current, but Intel says its BIOS configuration should change (see the advisories); accepted with a warning',
  },
  ConfigurationAndSWHardeningNeeded: {
    accept: true,
    meaning: 'both of the above: a configuration change and guest software mitigations; accepted with a warning',
  },
  OutOfDate: {
    accept: false,
    meaning: 'the platform misses security updates for known vulnerabilities (the advisories listed); refused',
  },
  OutOfDateConfigurationNeeded: { accept: false, meaning: 'out of date and misconfigured; refused' },
  Revoked: { accept: false, meaning: "Intel revoked this platform's attestation key or TCB level; refused" },
};

/** What a TCB status means here, and whether it passes. */
export function tcbCheck(status: string, advisoryIds: string[]): Check {
  const known = TCB_STATUS_MEANING[status];
  const advisories = advisoryIds.length ? ` (advisories: ${advisoryIds.join(', ')})` : '';
  if (!known) return { id: 'tcb', ok: false, detail: `TCB status ${status}: not a status this verifier knows; refused${advisories}` };
  return {
    id: 'tcb',
    ok: known.accept,
    detail: `TCB status ${status}: ${known.meaning}${advisories}`,
    ...(known.accept && status !== 'UpToDate' ? { warning: true } : {}),
  };
}

export interface QuoteInput {
  quote: Buffer;
  /** dcap-qvl's collateral; when absent, `collateralError` says why. */
  collateral?: Collateral;
  collateralError?: string;
  /** Trust this root (DER) instead of Intel's: tests and local fakes only. */
  testRootDer?: Buffer;
  now: Date;
}

/** What the quote measured, as hex. */
export interface Measurements {
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  report_data: string;
  td_attributes: string;
}

export interface QuoteFindings {
  checks: Check[];
  /** Every check held. */
  ok: boolean;
  /** The signature chain held (dcap-qvl accepted the quote), so the report below is the verified one. */
  signed: boolean;
  tcbStatus?: string;
  advisoryIds: string[];
  /** From the verified report when it verified; from the parsed, unverified quote otherwise. */
  report?: TDReport10;
  measurements?: Measurements;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

function measurementsOf(report: TDReport10): Measurements {
  return {
    mrtd: hex(report.mrTd),
    rtmr0: hex(report.rtMr0),
    rtmr1: hex(report.rtMr1),
    rtmr2: hex(report.rtMr2),
    rtmr3: hex(report.rtMr3),
    report_data: hex(report.reportData),
    td_attributes: hex(report.tdAttributes),
  };
}

/** Which root is trusted, said so that nobody mistakes a test root for Intel's. */
function rootCheck(testRootDer?: Buffer): Check {
  if (!testRootDer) return { id: 'trust-root', ok: true, detail: "Intel's SGX/TDX root CA (production), built into dcap-qvl" };
  let name = 'an unreadable certificate';
  try {
    const cert = new X509Certificate(testRootDer);
    name = `${cert.subject.replace(/\n/g, ', ')} (SHA-256 ${cert.fingerprint256})`;
  } catch {
    // The signature check below reports the unreadable root.
  }
  return {
    id: 'trust-root',
    ok: true,
    warning: true,
    detail: `TEST ROOT trusted instead of Intel's: ${name}. A quote it accepts says nothing about real Intel hardware.`,
  };
}

/**
 * The quote alone: signed through Intel's attestation chain (or the test root), a TDX quote, its TCB status as of
 * `now`, and a TD that is not in debug mode. The recorded-quote mode prints this; the full verification starts with it.
 */
export function checkQuote({ quote, collateral, collateralError, testRootDer, now }: QuoteInput): QuoteFindings {
  const checks: Check[] = [rootCheck(testRootDer)];
  let parsed: ReturnType<typeof dcap.Quote.parse>;
  try {
    parsed = dcap.Quote.parse(quote);
  } catch (error) {
    checks.push({ id: 'quote', ok: false, detail: `not a DCAP quote: ${(error as Error).message}` });
    return { checks, ok: false, signed: false, advisoryIds: [] };
  }

  let verified: VerifiedReport | undefined;
  let tcbStatus: string | undefined;
  if (!collateral) {
    checks.push({ id: 'quote', ok: false, detail: `no collateral to check the quote with: ${collateralError ?? 'none given'}` });
  } else {
    try {
      const verifier = testRootDer ? dcap.QuoteVerifier.newWithRootCa(testRootDer) : dcap.QuoteVerifier.newProd();
      verified = verifier.verify(quote, collateral, Math.floor(now.getTime() / 1000));
      checks.push({
        id: 'quote',
        ok: true,
        detail: `signature chain holds: quote signed by a quoting enclave whose PCK certificate chains to ${testRootDer ? 'the TEST root' : "Intel's root"}, collateral valid at ${now.toISOString()}`,
      });
    } catch (error) {
      const message = (error as Error).message;
      tcbStatus = /TCB status is invalid: (\w+)/.exec(message)?.[1];
      const hint = /expired|in the future/i.test(message)
        ? ` (the collateral is not valid at ${now.toISOString()}: fetch fresh collateral, or check a recorded quote with --at a time it was valid)`
        : '';
      checks.push({
        id: 'quote',
        ok: false,
        detail: `signature chain does not hold ${testRootDer ? 'to the test root' : "to Intel's root"}: ${message}${hint}`,
      });
    }
  }

  const tdx = parsed.header.teeType === TEE_TYPE_TDX && parsed.report.asTd10() !== null;
  checks.push({
    id: 'tdx',
    ok: tdx,
    detail: tdx
      ? `an Intel TDX quote (version ${parsed.header.version}, ${parsed.report.type === 'td15' ? 'TD report 1.5' : 'TD report 1.0'})`
      : `not a TDX quote (TEE type 0x${parsed.header.teeType.toString(16)}, ${parsed.report.type} report)`,
  });

  const advisoryIds = verified?.advisory_ids ?? [];
  if (verified) checks.push(tcbCheck(verified.status, advisoryIds));
  else if (tcbStatus) checks.push(tcbCheck(tcbStatus, []));
  else checks.push({ id: 'tcb', ok: false, detail: 'TCB status not established: the signature chain did not verify' });

  const report = (verified?.report ?? parsed.report).asTd10() ?? undefined;
  if (report) {
    // TD attributes, byte 0 is TUD ("TD under debug"): bit 0 DEBUG lets the host read and write the TD's memory and
    // registers; its other bits are reserved for debug features and must be clear too.
    const tud = report.tdAttributes[0] ?? 0;
    checks.push({
      id: 'debug-td',
      ok: tud === 0,
      detail:
        tud === 0
          ? 'TD attributes say not in debug mode: the host cannot read or change the TD through debug access'
          : `the TD runs in DEBUG mode (TD attributes ${hex(report.tdAttributes)}): the host can read its memory, keys included`,
    });
  }
  return {
    checks,
    ok: checks.every((c) => c.ok),
    signed: !!verified,
    tcbStatus: verified?.status ?? tcbStatus,
    advisoryIds,
    report,
    measurements: report && measurementsOf(report),
  };
}

/** A runtime event's digest in both formats dstack has used (cc-eventlog runtime_events.rs). */
function runtimeDigests(event: EventLogEntry): string[] {
  const payload = Buffer.from(event.event_payload, 'hex');
  const type = Buffer.alloc(4);
  type.writeUInt32LE(DSTACK_RUNTIME_EVENT);
  // V1: SHA-384(type as 4 bytes little-endian ‖ ":" ‖ name ‖ ":" ‖ payload).
  const v1 = createHash('sha384')
    .update(Buffer.concat([type, Buffer.from(':'), Buffer.from(event.event, 'utf8'), Buffer.from(':'), payload]))
    .digest('hex');
  // V2: SHA-384 of the canonical JSON {"name","payload" (hex),"type"}. The two preimages cannot coincide (V1 starts
  // with the type's bytes, V2 with "{"), so accepting either still binds exactly one name and payload.
  const v2 = createHash('sha384')
    .update(canonicalJson({ name: event.event, payload: payload.toString('hex'), type: DSTACK_RUNTIME_EVENT }), 'utf8')
    .digest('hex');
  return [v1, v2];
}

/** RTMR0..3 as the event log extends them: mr = SHA-384(mr ‖ digest), from 48 zero bytes. */
export function replayRtmrs(events: EventLogEntry[]): Buffer[] {
  return [0, 1, 2, 3].map((imr) =>
    events
      .filter((e) => e.imr === imr)
      .reduce(
        (mr, e) =>
          createHash('sha384')
            .update(Buffer.concat([mr, Buffer.from(e.digest, 'hex')]))
            .digest(),
        Buffer.alloc(48),
      ),
  );
}

const isRuntime = (e: EventLogEntry): boolean => e.imr === 3 && e.event_type === DSTACK_RUNTIME_EVENT;
const runtimeEvents = (events: EventLogEntry[], name: string): EventLogEntry[] => events.filter((e) => isRuntime(e) && e.event === name);
/** A hash as typed on a command line: any case, with or without 0x. */
export const normaliseHash = (value: string): string => value.trim().toLowerCase().replace(/^0x/, '');

function eventLogCheck(events: EventLogEntry[], report: TDReport10): Check {
  for (const [index, event] of events.entries()) {
    if (event.digest.length !== 96)
      return { id: 'event-log', ok: false, detail: `event ${index} (${event.event || 'boot'}) has no SHA-384 digest` };
    if (event.event_type === DSTACK_RUNTIME_EVENT && !runtimeDigests(event).includes(event.digest.toLowerCase()))
      return {
        id: 'event-log',
        ok: false,
        detail: `runtime event ${index} "${event.event}": its payload does not hash to its digest (the payload shown is not what was measured)`,
      };
  }
  const replayed = replayRtmrs(events);
  const quoted = [report.rtMr0, report.rtMr1, report.rtMr2, report.rtMr3].map((r) => Buffer.from(r));
  const differing = [0, 1, 2, 3].filter((i) => !replayed[i]!.equals(quoted[i]!));
  if (differing.length)
    return {
      id: 'event-log',
      ok: false,
      detail: `replaying the event log does not give the quote's ${differing.map((i) => `RTMR${i}`).join(', ')}: the log is not what was measured`,
    };
  const runtime = events.filter(isRuntime).length;
  return {
    id: 'event-log',
    ok: true,
    detail: `replaying ${events.length} events gives the quote's RTMR0–3; the ${runtime} runtime events' digests were recomputed from their payloads`,
  };
}

/** The one runtime event of this name, or why there is not exactly one. */
function onePayload(events: EventLogEntry[], name: string): { payload?: string; problem?: string } {
  const found = runtimeEvents(events, name);
  if (found.length === 1) return { payload: found[0]!.event_payload.toLowerCase() };
  return { problem: found.length ? `the event log has ${found.length} "${name}" events, not one` : `the event log has no "${name}" event` };
}

function composeCheck(document: AttestationDocument, allow: string[]): Check {
  const claimed = document.compose_hash.toLowerCase();
  const fail = (detail: string): Check => ({ id: 'compose-hash', ok: false, detail });
  if (sha256(document.app_compose) !== claimed) return fail(`app_compose does not hash to compose_hash ${claimed}`);
  const event = onePayload(document.event_log, 'compose-hash');
  if (event.problem) return fail(event.problem);
  if (event.payload !== claimed) return fail(`the measured compose hash is ${event.payload}, not the document's ${claimed}`);
  if (!allow.length)
    return fail(
      `the instance runs compose ${claimed}, and no --allow-compose-hash was given to compare it with: get the expected ` +
        'hash from the release you trust (node deploy/dstack/render.mjs IMAGE@sha256:DIGEST prints it; see docs/verifying.md), ' +
        'then run again with --allow-compose-hash HASH',
    );
  if (!allow.map(normaliseHash).includes(claimed))
    return fail(
      `the instance runs compose ${claimed}, which is not in --allow-compose-hash: it runs other code or settings than you expect`,
    );
  const floating = imagesByTag(document.app_compose);
  if (floating.length)
    return {
      id: 'compose-hash',
      ok: true,
      warning: true,
      detail:
        `the measured app-compose ${claimed} is one you allowed, but it names images by tag, not by digest (${floating.join(', ')}): ` +
        'the hash then pins the tag, not the code the registry serves under it',
    };
  return {
    id: 'compose-hash',
    ok: true,
    detail: `the measured app-compose ${claimed} is one you allowed, and its text is in the document`,
  };
}

/** The images an app-compose's docker compose file names without an @sha256: digest. */
export function imagesByTag(appCompose: string): string[] {
  let file: unknown;
  try {
    file = (JSON.parse(appCompose) as { docker_compose_file?: unknown }).docker_compose_file;
  } catch {
    return [];
  }
  if (typeof file !== 'string') return [];
  return [...file.matchAll(/^\s*image:\s*["']?([^\s"']+)/gm)].map((m) => m[1]!).filter((image) => !image.includes('@sha256:'));
}

function appIdCheck(document: AttestationDocument): Check {
  const event = onePayload(document.event_log, 'app-id');
  const claimed = document.app_id.toLowerCase();
  if (event.problem) return { id: 'app-id', ok: false, detail: event.problem };
  return event.payload === claimed
    ? { id: 'app-id', ok: true, detail: `app id ${claimed} is the one measured at boot` }
    : { id: 'app-id', ok: false, detail: `the measured app id is ${event.payload}, not the document's ${claimed}` };
}

function vmConfigImage(vmConfig?: string): string | undefined {
  if (!vmConfig) return undefined;
  try {
    const value = (JSON.parse(vmConfig) as { os_image_hash?: unknown }).os_image_hash;
    return typeof value === 'string' ? normaliseHash(value) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The OS image. What can be checked from the quote and event log: dstack measures the image's hash (as its KMS
 * approved it) into RTMR3 as the "os-image-hash" event, and that must agree with what the document and vm_config say.
 * Whether that image is a development build (dstack-dev: SSH server, debugging tools) is written only in the image's
 * own metadata.json, so it is decided here by the allow-list of image hashes the verifier trusts, which is required.
 */
function osImageCheck(document: AttestationDocument, allow: string[]): Check {
  const fail = (detail: string): Check => ({ id: 'os-image', ok: false, detail });
  const found = runtimeEvents(document.event_log, 'os-image-hash');
  if (found.length > 1) return fail(`the event log has ${found.length} "os-image-hash" events, not one`);
  const measured = found[0]?.event_payload.toLowerCase();
  const stated = [document.os_image_hash && normaliseHash(document.os_image_hash), vmConfigImage(document.vm_config)].filter(
    (v): v is string => !!v,
  );
  if (measured && stated.some((s) => s !== measured))
    return fail(`the measured OS image is ${measured}, but the document or its vm_config says ${stated.find((s) => s !== measured)}`);
  if (allow.length) {
    if (!measured) return fail('no "os-image-hash" event was measured, so the OS image cannot be compared with --allow-os-image-hash');
    return allow.map(normaliseHash).includes(measured)
      ? { id: 'os-image', ok: true, detail: `the measured OS image ${measured} is one you allowed` }
      : fail(`the measured OS image ${measured} is not in --allow-os-image-hash (a development image, or another dstack release)`);
  }
  // Not pinned: a development image (SSH into the CVM, debugging tools) would pass unseen, so this is refused too.
  return fail(
    `the OS image ${measured ?? stated[0] ?? '(not stated)'} is not one you allowed: whether it is a production or a development ` +
      'dstack image is not in the quote; pass --allow-os-image-hash with the hash of the dstack release you trust',
  );
}

export interface AttestationInput {
  /** The issuer the verifier asked (its own input, not the document's). */
  issuer: string;
  /** The nonce the verifier sent. */
  nonce: Buffer;
  /** The /attestation answer, unparsed. */
  document: unknown;
  /** The JWKS fetched from the discovery document's jwks_uri. */
  liveJwks: unknown;
  collateral?: Collateral;
  collateralError?: string;
  testRootDer?: Buffer;
  allowComposeHashes: string[];
  allowOsImageHashes?: string[];
  now: Date;
}

export interface AttestationVerdict {
  ok: boolean;
  checks: Check[];
  composeHash?: string;
  appId?: string;
  tcbStatus?: string;
  measurements?: Measurements;
}

/** Every check of an instance's attestation document, in the order docs/verifying.md explains them. */
export function verifyAttestation(input: AttestationInput): AttestationVerdict {
  const parsed = attestationDocument.safeParse(input.document);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'document'}: ${i.message}`).join('; ');
    return { ok: false, checks: [{ id: 'document', ok: false, detail: `not an oauth3 attestation document (${issues})` }] };
  }
  const document = parsed.data;
  const checks: Check[] = [{ id: 'document', ok: true, detail: `an oauth3 attestation document (${document.construction})` }];

  const sentNonce = input.nonce.toString('hex');
  checks.push(
    document.nonce.toLowerCase() === sentNonce
      ? { id: 'nonce', ok: true, detail: 'made for the nonce this verifier just sent' }
      : { id: 'nonce', ok: false, detail: `made for another nonce (${document.nonce}): a replayed or foreign attestation` },
  );
  checks.push(
    document.issuer === input.issuer
      ? { id: 'issuer', ok: true, detail: `made for issuer ${input.issuer}` }
      : { id: 'issuer', ok: false, detail: `made for issuer ${document.issuer}, not ${input.issuer}: another instance's attestation` },
  );

  const quote = checkQuote({
    quote: Buffer.from(document.quote, 'hex'),
    collateral: input.collateral,
    collateralError: input.collateralError,
    testRootDer: input.testRootDer,
    now: input.now,
  });
  checks.push(...quote.checks.filter((c) => c.id !== 'debug-td'));
  const { report } = quote;
  const source = quote.signed ? 'the verified quote' : 'the quote (NOT verified)';

  const attestedJwksDigest = jwksDigest(document.jwks);
  if (report) {
    const expected = reportDataFor({ nonce: input.nonce, issuer: input.issuer, jwksSha256: attestedJwksDigest, version: document.version });
    const quoted = Buffer.from(report.reportData);
    checks.push(
      !quoted.equals(expected)
        ? {
            id: 'report-data',
            ok: false,
            detail: `the REPORTDATA of ${source} is not the one for this nonce, issuer, key set and version ${document.version}: it was made for other values`,
          }
        : document.report_data.toLowerCase() !== expected.toString('hex')
          ? { id: 'report-data', ok: false, detail: "the document's report_data field differs from the quote's REPORTDATA" }
          : {
              id: 'report-data',
              ok: true,
              detail: `the REPORTDATA of ${source} binds this nonce, this issuer, the document's key set and version ${document.version}`,
            },
    );
  }
  checks.push(
    document.jwks_sha256.toLowerCase() === attestedJwksDigest.toString('hex')
      ? { id: 'jwks-sha256', ok: true, detail: `jwks_sha256 is the SHA-256 of the attested key set's canonical JSON` }
      : { id: 'jwks-sha256', ok: false, detail: `jwks_sha256 ${document.jwks_sha256} is not the SHA-256 of the document's key set` },
  );
  checks.push(servedKeysCheck(document, input.liveJwks));

  if (report) checks.push(eventLogCheck(document.event_log, report));
  checks.push(composeCheck(document, input.allowComposeHashes));
  checks.push(appIdCheck(document));
  checks.push(...quote.checks.filter((c) => c.id === 'debug-td'));
  checks.push(osImageCheck(document, input.allowOsImageHashes ?? []));

  return {
    ok: checks.every((c) => c.ok),
    checks,
    composeHash: document.compose_hash.toLowerCase(),
    appId: document.app_id.toLowerCase(),
    tcbStatus: quote.tcbStatus,
    measurements: quote.measurements,
  };
}

const kidsOf = (jwks: { keys: Array<Record<string, unknown>> }): string[] =>
  jwks.keys.map((k) => (typeof k.kid === 'string' ? k.kid : '(no kid)'));

function servedKeysCheck(document: AttestationDocument, liveJwks: unknown): Check {
  const live = attestationDocument.shape.jwks.safeParse(liveJwks);
  if (!live.success) return { id: 'served-keys', ok: false, detail: "the issuer's jwks_uri does not answer a JWKS" };
  if (canonicalJson(live.data) === canonicalJson(document.jwks))
    return {
      id: 'served-keys',
      ok: true,
      detail: `the JWKS the issuer serves at its jwks_uri is the attested one (${kidsOf(live.data).join(', ') || 'no keys'})`,
    };
  const attested = kidsOf(document.jwks);
  const served = kidsOf(live.data);
  const extra = served.filter((k) => !attested.includes(k));
  const missing = attested.filter((k) => !served.includes(k));
  return {
    id: 'served-keys',
    ok: false,
    detail:
      'the JWKS served at jwks_uri differs from the attested one, so tokens may be signed with keys the attested code does not hold' +
      (extra.length ? `; served but not attested: ${extra.join(', ')}` : '') +
      (missing.length ? `; attested but not served: ${missing.join(', ')}` : '') +
      (!extra.length && !missing.length ? '; the same key ids with other contents' : ''),
  };
}

import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import dcap from '@phala/dcap-qvl';
import type { Collateral } from '@phala/dcap-qvl';
import { attestationDocument } from '../tee/attestation-document.js';
import { checkQuote, verifyAttestation, type Check } from '../tee/verify.js';

/**
 * `npm run oauth3 -- verify`: what an owner, an app developer or an auditor runs before trusting an instance
 * (docs/verifying.md). It is an outsider's tool: it reads no server configuration, opens no database and needs no
 * MASTER_KEY; it fetches what the instance publishes, with a fresh nonce, and hands it to src/tee/verify.ts.
 */

export const VERIFY_USAGE = `  verify ISSUER_URL --allow-compose-hash HASH [...] --allow-os-image-hash HASH [...]
         [--collateral FILE | --pccs-url URL] [--timeout SECONDS] [--json]
                       check that the instance at ISSUER_URL runs the app-compose you allow on a dstack OS
                       image you allow in an Intel TDX confidential VM, and signs tokens only with keys that
                       code holds (docs/verifying.md);
                       exit code 0 only when every check holds
  verify --quote FILE [--collateral FILE | --pccs-url URL] [--at ISO-TIME] [--json]
                       check a recorded TDX quote alone (signature chain, TCB status as of --at) and print
                       its measurements
         --trust-test-root FILE  trust this root certificate (PEM or DER) instead of Intel's: tests only`;

type Out = (line: string) => void;

/** Usage errors exit 2; a check that does not hold, or an instance that cannot be asked, exits 1. */
const USAGE_ERROR = 2;
const DEFAULT_TIMEOUT_SECONDS = 15;

class Unreachable extends Error {}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      'allow-compose-hash': { type: 'string', multiple: true },
      'allow-os-image-hash': { type: 'string', multiple: true },
      collateral: { type: 'string' },
      'pccs-url': { type: 'string' },
      'trust-test-root': { type: 'string' },
      quote: { type: 'string' },
      at: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

const isLoopback = (url: URL): boolean => ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);

/** An https URL, or http on this machine (tests, a local instance). */
function acceptableUrl(raw: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url)) ? url : undefined;
}

/** A file's bytes, or its hex text decoded (a quote may be saved either way). */
function readQuoteFile(file: string): Buffer {
  const bytes = readFileSync(file);
  const text = bytes.toString('latin1').trim().replace(/^0x/, '');
  return /^(?:[0-9a-f]{2})+$/i.test(text) ? Buffer.from(text, 'hex') : bytes;
}

async function getJson(url: string, what: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason =
      (error as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000} s`
        : (cause?.code ?? cause?.message ?? (error as Error).message);
    throw new Unreachable(`Could not fetch ${what} from ${url}: ${reason}.`);
  }
  const text = await response.text().catch(() => '');
  if (!response.ok) return { status: response.status, body: undefined };
  try {
    return { status: response.status, body: JSON.parse(text) as unknown };
  } catch {
    throw new Unreachable(`${url} answered ${what} with something that is not JSON.`);
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The collateral for this quote from a PCCS; a failure becomes the quote check's explanation. */
async function collateralFor(
  values: { 'pccs-url'?: string },
  quote: Buffer,
  timeoutMs: number,
): Promise<{ collateral?: Collateral; collateralError?: string }> {
  const pccs = values['pccs-url'] ?? dcap.PHALA_PCCS_URL;
  try {
    return { collateral: await withTimeout(dcap.getCollateral(pccs, quote), timeoutMs, pccs) };
  } catch (error) {
    return { collateralError: `could not get collateral from ${pccs}: ${(error as Error).message}` };
  }
}

function printChecks(checks: Check[], out: Out): void {
  for (const c of checks) out(`  ${c.ok ? '✓' : '✗'} ${c.id}: ${c.warning ? 'WARNING: ' : ''}${c.detail}`);
}

const failedIds = (checks: Check[]): string =>
  checks
    .filter((c) => !c.ok)
    .map((c) => c.id)
    .join(', ');

/** Runs `verify …` (argv without the leading "verify"); returns the exit code. */
export async function runVerify(argv: string[], env: NodeJS.ProcessEnv, out: Out, err: Out): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    err(`${(error as Error).message}\n\nUsage: npm run oauth3 --\n${VERIFY_USAGE}`);
    return USAGE_ERROR;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(`Usage: npm run oauth3 --\n${VERIFY_USAGE}`);
    return 0;
  }
  const usage = (message: string): number => {
    err(`${message}\n\nUsage: npm run oauth3 --\n${VERIFY_USAGE}`);
    return USAGE_ERROR;
  };
  if (values.collateral && values['pccs-url']) return usage('Give --collateral or --pccs-url, not both.');
  if (values['pccs-url'] && !acceptableUrl(values['pccs-url']))
    return usage('--pccs-url must be an https URL (http only on 127.0.0.1 or localhost).');
  const timeoutSeconds = Number(values.timeout ?? DEFAULT_TIMEOUT_SECONDS);
  if (!(timeoutSeconds > 0)) return usage('--timeout: a number of seconds greater than 0.');
  const timeoutMs = timeoutSeconds * 1000;

  let testRootDer: Buffer | undefined;
  if (values['trust-test-root']) {
    if (env.NODE_ENV === 'production') {
      err(
        "--trust-test-root is for tests and local fakes, and is refused with NODE_ENV=production: production quotes are checked against Intel's root.",
      );
      return USAGE_ERROR;
    }
    try {
      testRootDer = Buffer.from(new X509Certificate(readFileSync(values['trust-test-root'])).raw);
    } catch (error) {
      return usage(`--trust-test-root: ${values['trust-test-root']} is not a PEM or DER certificate (${(error as Error).message}).`);
    }
  }

  let collateralFromFile: Collateral | undefined;
  if (values.collateral) {
    try {
      collateralFromFile = JSON.parse(readFileSync(values.collateral, 'utf8')) as Collateral;
    } catch (error) {
      return usage(`--collateral: cannot read ${values.collateral} as JSON (${(error as Error).message}).`);
    }
  }

  if (values.quote) {
    if (positionals.length) return usage('--quote checks a recorded quote alone: give no issuer URL with it.');
    if (values['allow-compose-hash'] || values['allow-os-image-hash'])
      return usage('--allow-compose-hash and --allow-os-image-hash need an issuer: a quote alone carries no app-compose.');
    const at = values.at ? new Date(values.at) : new Date();
    if (Number.isNaN(at.getTime())) return usage('--at: an ISO time such as 2025-07-01T00:00:00Z.');
    let quote: Buffer;
    try {
      quote = readQuoteFile(values.quote);
    } catch (error) {
      return usage(`--quote: cannot read ${values.quote} (${(error as Error).message}).`);
    }
    const collateral = collateralFromFile ? { collateral: collateralFromFile } : await collateralFor(values, quote, timeoutMs);
    return printQuote(
      checkQuote({ quote, ...collateral, testRootDer, now: at }),
      { at, testRoot: !!testRootDer, json: !!values.json },
      out,
    );
  }

  if (values.at) return usage('--at applies to --quote only: a live instance is checked as of now.');
  if (positionals.length !== 1) return usage('Give the issuer URL to verify, e.g. verify https://auth.example.com');
  const issuerUrl = acceptableUrl(positionals[0]!);
  if (!issuerUrl) return usage('The issuer must be an https URL (http only on 127.0.0.1 or localhost).');
  let issuer = issuerUrl.href.replace(/\/$/, '');

  try {
    const discovery = await getJson(`${issuer}/.well-known/openid-configuration`, 'its discovery document', timeoutMs);
    if (discovery.status !== 200)
      throw new Unreachable(`${issuer} has no OpenID discovery document (HTTP ${discovery.status}): is it an oauth3 issuer?`);
    const { issuer: announced, jwks_uri: jwksUri } = (discovery.body ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
    if (typeof announced !== 'string' || acceptableUrl(announced)?.href.replace(/\/$/, '') !== issuer)
      throw new Unreachable(
        `${issuer}'s discovery document names another issuer (${String(announced)}): give that URL, or ask its operator.`,
      );
    // The issuer as the instance spells it, which is what its attestation binds (the same URL as the one given).
    issuer = announced;
    if (typeof jwksUri !== 'string' || !acceptableUrl(jwksUri))
      throw new Unreachable(`${issuer}'s discovery document has no usable jwks_uri (${String(jwksUri)}).`);

    const nonce = randomBytes(32);
    const attestation = await getJson(`${issuer}/attestation?nonce=${nonce.toString('hex')}`, 'its attestation', timeoutMs);
    if (attestation.status === 404)
      throw new Unreachable(`${issuer} serves no /attestation (HTTP 404): it is not running in TEE mode, so there is nothing to verify.`);
    if (attestation.status !== 200) throw new Unreachable(`${issuer}/attestation answered HTTP ${attestation.status}.`);
    const live = await getJson(jwksUri, 'its JWKS', timeoutMs);
    if (live.status !== 200) throw new Unreachable(`${jwksUri} answered HTTP ${live.status}.`);

    const document = attestationDocument.safeParse(attestation.body);
    const quote = document.success ? Buffer.from(document.data.quote, 'hex') : undefined;
    const collateral = collateralFromFile
      ? { collateral: collateralFromFile }
      : quote
        ? await collateralFor(values, quote, timeoutMs)
        : { collateralError: 'no quote' };
    const verdict = verifyAttestation({
      issuer,
      nonce,
      document: attestation.body,
      liveJwks: live.body,
      ...collateral,
      testRootDer,
      allowComposeHashes: values['allow-compose-hash'] ?? [],
      allowOsImageHashes: values['allow-os-image-hash'] ?? [],
      now: new Date(),
    });
    const line = verdict.ok
      ? `Verified${testRootDer ? " against a TEST ROOT, not Intel's" : ''}: ${issuer} runs the attested code (app-compose ${verdict.composeHash}) in an Intel TDX confidential VM, and serves only the keys that code holds.`
      : `NOT verified: ${issuer} failed ${verdict.checks.filter((c) => !c.ok).length} check(s) (${failedIds(verdict.checks)}); do not trust it.`;
    if (values.json)
      out(
        JSON.stringify(
          {
            verdict: verdict.ok ? 'verified' : 'not verified',
            issuer,
            compose_hash: verdict.composeHash ?? null,
            app_id: verdict.appId ?? null,
            trusted_root: testRootDer ? 'test' : 'intel',
            tcb_status: verdict.tcbStatus ?? null,
            checks: verdict.checks,
          },
          null,
          2,
        ),
      );
    else {
      out(line);
      printChecks(verdict.checks, out);
    }
    return verdict.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof Unreachable) {
      if (values.json) out(JSON.stringify({ verdict: 'not verified', issuer, error: error.message, checks: [] }, null, 2));
      else err(`NOT verified: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

function printQuote(
  findings: ReturnType<typeof checkQuote>,
  { at, testRoot, json }: { at: Date; testRoot: boolean; json: boolean },
  out: Out,
): number {
  if (json) {
    out(
      JSON.stringify(
        {
          verdict: findings.ok ? 'verified' : 'not verified',
          at: at.toISOString(),
          trusted_root: testRoot ? 'test' : 'intel',
          tcb_status: findings.tcbStatus ?? null,
          advisory_ids: findings.advisoryIds,
          checks: findings.checks,
          measurements: findings.measurements ?? null,
        },
        null,
        2,
      ),
    );
    return findings.ok ? 0 : 1;
  }
  out(
    findings.ok
      ? `Verified${testRoot ? " against a TEST ROOT, not Intel's" : ''}: a genuine TDX quote, TCB ${findings.tcbStatus} as of ${at.toISOString()}.`
      : `NOT verified as of ${at.toISOString()}: ${failedIds(findings.checks)}.`,
  );
  printChecks(findings.checks, out);
  const m = findings.measurements;
  if (m) {
    out(`Measurements${findings.signed ? '' : ' (from a quote that did NOT verify)'}:`);
    for (const [name, value] of Object.entries(m)) out(`  ${name.toUpperCase().padEnd(13)} ${value}`);
  }
  return findings.ok ? 0 : 1;
}

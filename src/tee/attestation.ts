import { z } from 'zod';
import { eventLogEntry, type AttestationDocument } from './attestation-document.js';
import { jwksDigest, reportDataFor, REPORT_DATA_TAG } from './report-data.js';
import { TeeUnavailable, type AppIdentity, type Tee } from './dstack.js';

export interface AttestationDeps {
  tee: Tee;
  /** What dstack reported about this app at start; it cannot change while the CVM runs. */
  identity: AppIdentity;
  issuer: string;
  version: string;
  /** The JWKS served at this issuer's jwks_uri right now. */
  jwks: () => { keys: Array<Record<string, unknown>> };
}

const eventLog = z.array(eventLogEntry);

/**
 * Answers a verifier's nonce with a TDX quote whose report_data binds the nonce, the issuer, the served JWKS and the
 * release (src/tee/report-data.ts), and everything a verifier needs to recompute it and check what dstack measured
 * (docs/architecture.md#tee-mode, threat model J10). A new quote for every nonce: nothing here is cached but the app's
 * identity, which cannot change while the CVM runs.
 */
export class Attestations {
  constructor(private readonly deps: AttestationDeps) {}

  get identity(): AppIdentity {
    return this.deps.identity;
  }

  async document(nonce: Buffer): Promise<AttestationDocument> {
    const { issuer, version } = this.deps;
    const jwks = this.deps.jwks();
    const jwksSha256 = jwksDigest(jwks);
    const reportData = reportDataFor({ nonce, issuer, jwksSha256, version });
    const quote = await this.deps.tee.quote(reportData);
    const { identity } = this.deps;
    let events;
    try {
      events = eventLog.parse(JSON.parse(quote.eventLog));
    } catch {
      throw new TeeUnavailable("dstack's guest agent returned an event log that is not a list of events");
    }
    return {
      construction: REPORT_DATA_TAG,
      nonce: nonce.toString('hex'),
      issuer,
      version,
      jwks,
      jwks_sha256: jwksSha256.toString('hex'),
      report_data: reportData.toString('hex'),
      quote: quote.quote.replace(/^0x/, ''),
      event_log: events,
      app_id: identity.appId,
      instance_id: identity.instanceId,
      compose_hash: identity.composeHash,
      app_compose: identity.appCompose,
      os_image_hash: identity.osImageHash,
      vm_config: quote.vmConfig,
      key_provider_info: identity.keyProviderInfo,
    };
  }
}

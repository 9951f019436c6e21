import { z } from 'zod';
import { NONCE_HEX, REPORT_DATA_TAG } from './report-data.js';

const hex = z.string().regex(/^(?:[0-9a-f]{2})*$/i, 'hex');

/** One entry of dstack's event log: what was measured into which RTMR (imr 0–3). */
export const eventLogEntry = z.object({
  imr: z.number().int().min(0).max(3),
  event_type: z.number().int(),
  digest: hex,
  event: z.string(),
  event_payload: hex,
});
export type EventLogEntry = z.infer<typeof eventLogEntry>;

/**
 * What `GET /attestation?nonce=` answers in TEE mode (docs/architecture.md#tee-mode): the quote, the fields its
 * report_data binds, in clear, and what dstack measured (event log, compose) so that a verifier can recompute both.
 */
export const attestationDocument = z.object({
  construction: z.literal(REPORT_DATA_TAG),
  nonce: z.string().regex(NONCE_HEX),
  issuer: z.string().url(),
  version: z.string().min(1),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
  jwks_sha256: hex.length(64),
  report_data: hex.length(128),
  quote: hex.min(2),
  event_log: z.array(eventLogEntry),
  app_id: z.string(),
  instance_id: z.string().optional(),
  compose_hash: hex.length(64),
  /** The app-compose dstack launched; its SHA-256 is compose_hash. */
  app_compose: z.string(),
  os_image_hash: z.string().optional(),
  vm_config: z.string().optional(),
  key_provider_info: z.string().optional(),
});
export type AttestationDocument = z.infer<typeof attestationDocument>;

import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { closeServer, listenLocally } from '../fakes/local-server.js';
import { startFakeDstackAgent, type FakeDstackAgent, type FakeDstackOptions } from '../fakes/dstack-agent.js';
import { createFakeTdx, type FakeTdx } from '../helpers/fake-tdx.js';
import { REPORT_DATA_TAG, jwksDigest, reportDataFor } from '../../src/tee/report-data.js';

/**
 * A stand-in for an oauth3 instance in TEE mode, for the verify command's tests: on 127.0.0.1 it serves discovery, a
 * JWKS and `GET /attestation?nonce=`, whose document it builds as the real endpoint does (quote from the fake dstack
 * agent over report_data from reportDataFor, event log, app-compose) with quotes signed by the fake TDX world. Each
 * `tamper` knob makes it misbehave in one way a verifier must catch.
 */

export interface Tamper {
  /** Answer with the document made for this nonce instead of the one asked (a replayed attestation). */
  nonce?: string;
  /** Bind and state this issuer instead of the server's own. */
  issuer?: string;
  /** Serve this JWKS at jwks_uri, while the attestation binds the original one. */
  servedJwks?: { keys: Array<Record<string, unknown>> };
  /** Set the TD's DEBUG attribute bit in the quote. */
  debug?: boolean;
  /** Change the document after it is built. */
  document?: (document: Record<string, unknown>) => void;
  /** Answer /attestation with this status and no document. */
  status?: number;
}

export interface AttestedIssuer {
  issuer: string;
  tdx: FakeTdx;
  agent: FakeDstackAgent;
  jwks: { keys: Array<Record<string, unknown>> };
  version: string;
  tamper: Tamper;
  /** The nonces /attestation was asked for. */
  nonces: string[];
  close(): Promise<void>;
}

function publicJwk(kid: string): Record<string, unknown> {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
}

async function agentCall(agent: FakeDstackAgent, route: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${agent.endpoint}${route}`, { method: 'POST', body: JSON.stringify(body) });
  return (await response.json()) as Record<string, unknown>;
}

export async function startAttestedIssuer(
  options: { agent?: Omit<FakeDstackOptions, 'quote' | 'transport'>; tdx?: FakeTdx } = {},
): Promise<AttestedIssuer> {
  const tdx = options.tdx ?? (await createFakeTdx());
  const tamper: Tamper = {};
  const agent = await startFakeDstackAgent({
    ...options.agent,
    transport: 'http',
    quote: ({ reportData, rtmrs }) => tdx.quote({ reportData, rtmrs, debug: tamper.debug }),
  });
  const jwks = { keys: [publicJwk('k1'), publicJwk('k2')] };
  const version = '0.1.0';
  const nonces: string[] = [];

  const server = http.createServer((req, res) => {
    const send = (status: number, body?: unknown): void => {
      const json = body === undefined ? '' : JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(json);
    };
    const url = new URL(req.url ?? '/', issuer);
    void (async () => {
      switch (url.pathname) {
        case '/.well-known/openid-configuration':
          return send(200, { issuer, jwks_uri: `${issuer}/jwks`, token_endpoint: `${issuer}/token` });
        case '/jwks':
          return send(200, tamper.servedJwks ?? jwks);
        case '/attestation': {
          const asked = url.searchParams.get('nonce') ?? '';
          nonces.push(asked);
          if (tamper.status) return send(tamper.status, { error: 'not_found' });
          const nonce = tamper.nonce ?? asked;
          const boundIssuer = tamper.issuer ?? issuer;
          const reportData = reportDataFor({
            nonce: Buffer.from(nonce, 'hex'),
            issuer: boundIssuer,
            jwksSha256: jwksDigest(jwks),
            version,
          });
          const quoted = await agentCall(agent, '/GetQuote', { report_data: reportData.toString('hex') });
          const info = await agentCall(agent, '/Info', {});
          const tcb = JSON.parse(String(info.tcb_info)) as { app_compose: string };
          const document: Record<string, unknown> = {
            construction: REPORT_DATA_TAG,
            nonce,
            issuer: boundIssuer,
            version,
            jwks,
            jwks_sha256: jwksDigest(jwks).toString('hex'),
            report_data: String(quoted.report_data),
            quote: String(quoted.quote),
            event_log: JSON.parse(String(quoted.event_log)) as unknown,
            app_id: info.app_id,
            instance_id: info.instance_id,
            compose_hash: info.compose_hash,
            app_compose: tcb.app_compose,
            os_image_hash: info.os_image_hash,
            vm_config: quoted.vm_config,
            key_provider_info: info.key_provider_info,
          };
          tamper.document?.(document);
          return send(200, document);
        }
        default:
          return send(404, { error: 'not_found' });
      }
    })().catch((error: unknown) => send(500, { error: String(error) }));
  });
  const issuer = await listenLocally(server);
  return {
    issuer,
    tdx,
    agent,
    jwks,
    version,
    tamper,
    nonces,
    close: async () => {
      await closeServer(server);
      await agent.close();
    },
  };
}

import http from 'node:http';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closeServer, listenLocally } from './local-server.js';

/**
 * A stand-in for dstack's guest agent, the service inside a CVM that the SDK (`@phala/dstack-sdk`) talks to: JSON over
 * HTTP, on a unix socket (`/var/run/dstack.sock` in a real CVM) or on 127.0.0.1 (the simulator's way). It answers
 * `/GetKey` (a key derived from the fake KMS seed and the path, so the same seed and path give the same key across
 * restarts, like the real KMS for one app), `/GetQuote` (a quote over the caller's report_data, with an event log whose
 * RTMR3 replay matches the quote) and `/Info` (app id, compose hash, the app-compose itself, OS image).
 */

/** The key the fake KMS derives for `path` (and `purpose`) from `seed`: what a test expects the server to seal with. */
export function fakeKmsKey(seed: Buffer, path: string, purpose = 'oauth3 master key'): Buffer {
  return createHmac('sha256', seed).update(`${path}\0${purpose}`).digest();
}

/** dstack's event type for what the CVM measures at run time into RTMR3. */
export const DSTACK_RUNTIME_EVENT = 0x08000001;

export interface FakeEvent {
  imr: number;
  event_type: number;
  digest: string;
  event: string;
  event_payload: string;
}

/** A runtime event as dstack records it: digest = SHA-384(type as 4 bytes little-endian ‖ ":" ‖ name ‖ ":" ‖ payload). */
export function runtimeEvent(event: string, payload: Buffer): FakeEvent {
  const type = Buffer.alloc(4);
  type.writeUInt32LE(DSTACK_RUNTIME_EVENT);
  const digest = createHash('sha384')
    .update(Buffer.concat([type, Buffer.from(':'), Buffer.from(event), Buffer.from(':'), payload]))
    .digest('hex');
  return { imr: 3, event_type: DSTACK_RUNTIME_EVENT, digest, event, event_payload: payload.toString('hex') };
}

/**
 * RTMR0..3 as the event log extends them: mr = SHA-384(mr ‖ digest), from 48 zero bytes. Written apart from the
 * verifier's replay (src/tee/verify.ts) on purpose: a fake that borrowed the verifier's arithmetic could not catch a
 * mistake in it.
 */
export function replayRtmrs(events: FakeEvent[]): Buffer[] {
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

/** An app-compose as dstack keeps it; its SHA-256 is the compose hash. */
export function appComposeFor(image = 'ghcr.io/example/oauth3@sha256:' + 'ab'.repeat(32)): string {
  return JSON.stringify({
    allowed_envs: ['DATABASE_URL', 'ISSUER'],
    docker_compose_file: `services:\n  oauth3:\n    image: ${image}\n    environment:\n      MASTER_KEY_SOURCE: dstack\n`,
    kms_enabled: true,
    manifest_version: 2,
    name: 'oauth3',
    runner: 'docker-compose',
  });
}

export interface QuoteRequest {
  /** The 64 bytes the quote carries, the caller's report_data padded with zeros. */
  reportData: Buffer;
  rtmrs: Buffer[];
}

export interface FakeDstackOptions {
  /** `unix` (default) listens on a socket in a fresh temporary folder; `http` on 127.0.0.1. */
  transport?: 'unix' | 'http';
  /** The fake KMS's root secret: two agents with one seed are one app restarted. */
  seed?: Buffer;
  appId?: string;
  instanceId?: string;
  appCompose?: string;
  osImageHash?: string;
  /** Builds the quote; the default is a stand-in with the report data and RTMRs but no valid signature. */
  quote?: (request: QuoteRequest) => Buffer;
}

export interface FakeDstackAgent {
  /** What DSTACK_SOCKET (unix) or DSTACK_SIMULATOR_ENDPOINT (http) is set to. */
  endpoint: string;
  appId: string;
  composeHash: string;
  appCompose: string;
  osImageHash: string;
  events: FakeEvent[];
  /** Every request: the path and its JSON body. */
  calls: Array<{ path: string; body: Record<string, unknown> }>;
  /** Until cleared, `path` answers `{ error: message }`, as the real agent reports a failure. */
  failing: Map<string, string>;
  /** Overrides the length of the keys /GetKey returns (a broken agent). */
  keyLength?: number;
  close(): Promise<void>;
}

const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** A quote-shaped stand-in for tests that only carry the quote through: its bytes end with the report data. */
function standInQuote({ reportData, rtmrs }: QuoteRequest): Buffer {
  return Buffer.concat([Buffer.from('fake-quote'), ...rtmrs, reportData]);
}

export async function startFakeDstackAgent(options: FakeDstackOptions = {}): Promise<FakeDstackAgent> {
  const seed = options.seed ?? randomBytes(32);
  const appId = options.appId ?? createHash('sha256').update(seed).digest('hex').slice(0, 40);
  const instanceId = options.instanceId ?? randomBytes(20).toString('hex');
  const appCompose = options.appCompose ?? appComposeFor();
  const composeHash = createHash('sha256').update(appCompose).digest('hex');
  const osImageHash = options.osImageHash ?? createHash('sha256').update('dstack-0.5.3').digest('hex');
  const quote = options.quote ?? standInQuote;

  const boot = [0, 1, 2].map((imr) => ({
    imr,
    event_type: 0x80000001,
    digest: createHash('sha384').update(`boot ${imr}`).digest('hex'),
    event: '',
    event_payload: '',
  }));
  const events: FakeEvent[] = [
    ...boot,
    runtimeEvent('system-preparing', Buffer.alloc(0)),
    runtimeEvent('app-id', Buffer.from(appId, 'hex')),
    runtimeEvent('compose-hash', Buffer.from(composeHash, 'hex')),
    runtimeEvent('instance-id', Buffer.from(instanceId, 'hex')),
    runtimeEvent('boot-mr-done', Buffer.alloc(0)),
    runtimeEvent('os-image-hash', Buffer.from(osImageHash, 'hex')),
    runtimeEvent('key-provider', Buffer.from(JSON.stringify({ name: 'kms', id: 'fake' }))),
    runtimeEvent('system-ready', Buffer.alloc(0)),
  ];
  const rtmrs = replayRtmrs(events);
  const vmConfig = JSON.stringify({ os_image_hash: osImageHash, cpu_count: 2, memory_size: 2147483648 });

  const agent: FakeDstackAgent = {
    endpoint: '',
    appId,
    composeHash,
    appCompose,
    osImageHash,
    events,
    calls: [],
    failing: new Map(),
    close: async () => {},
  };

  const answer = (route: string, body: Record<string, unknown>): unknown => {
    const failure = agent.failing.get(route);
    if (failure) return { error: failure };
    switch (route) {
      case '/GetKey': {
        const key = fakeKmsKey(seed, text(body.path), text(body.purpose));
        const sized = agent.keyLength === undefined ? key : Buffer.concat([key, key]).subarray(0, agent.keyLength);
        return { key: sized.toString('hex'), signature_chain: [randomBytes(65).toString('hex')] };
      }
      case '/GetQuote': {
        const hex = text(body.report_data);
        if (!/^(?:[0-9a-f]{2}){0,64}$/i.test(hex)) return { error: 'report_data must be at most 64 bytes of hex' };
        const reportData = Buffer.concat([Buffer.from(hex, 'hex'), Buffer.alloc(64)]).subarray(0, 64);
        return {
          quote: quote({ reportData, rtmrs }).toString('hex'),
          event_log: JSON.stringify(events),
          report_data: reportData.toString('hex'),
          vm_config: vmConfig,
        };
      }
      case '/Info':
        return {
          app_id: appId,
          instance_id: instanceId,
          app_cert: '',
          app_name: 'oauth3',
          device_id: 'fa'.repeat(32),
          os_image_hash: osImageHash,
          compose_hash: composeHash,
          key_provider_info: JSON.stringify({ name: 'kms', id: 'fake' }),
          vm_config: vmConfig,
          tcb_info: JSON.stringify({
            mrtd: '03'.repeat(48),
            rtmr0: rtmrs[0]!.toString('hex'),
            rtmr1: rtmrs[1]!.toString('hex'),
            rtmr2: rtmrs[2]!.toString('hex'),
            rtmr3: rtmrs[3]!.toString('hex'),
            app_compose: appCompose,
            event_log: events,
            os_image_hash: osImageHash,
            compose_hash: composeHash,
            device_id: 'fa'.repeat(32),
            mr_aggregated: '00'.repeat(32),
          }),
        };
      default:
        return { error: `unknown method ${route}` };
    }
  };

  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      const route = new URL(req.url ?? '/', 'http://agent').pathname;
      let body: Record<string, unknown>;
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        body = {};
      }
      agent.calls.push({ path: route, body });
      const json = JSON.stringify(answer(route, body));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
      res.end(json);
    });
  });

  if (options.transport === 'http') {
    agent.endpoint = await listenLocally(server);
    agent.close = () => closeServer(server);
  } else {
    const dir = mkdtempSync(path.join(tmpdir(), 'oauth3-dstack-'));
    agent.endpoint = path.join(dir, 'dstack.sock');
    await new Promise<void>((resolve) => server.listen(agent.endpoint, resolve));
    agent.close = async () => {
      await closeServer(server);
      rmSync(dir, { recursive: true, force: true });
    };
  }
  return agent;
}

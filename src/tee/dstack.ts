import { existsSync } from 'node:fs';
import { lazy } from '../lazy.js';
import type { Config } from '../config.js';

/**
 * The one way oauth3 reaches dstack's guest agent, the service inside the confidential VM that derives keys from the
 * KMS and produces TDX quotes (docs/architecture.md#tee-mode). Failures become a TeeUnavailable with one plain sentence;
 * nothing here falls back to anything.
 */
export class TeeUnavailable extends Error {
  override name = 'TeeUnavailable';
}

/** The guest agent's address: the simulator's in development when set, else the socket mounted into the container. */
export function dstackEndpoint(config: Pick<Config, 'DSTACK_SIMULATOR_ENDPOINT' | 'DSTACK_SOCKET'>): string {
  return config.DSTACK_SIMULATOR_ENDPOINT ?? config.DSTACK_SOCKET;
}

/** Info the guest agent reports about this app, the parts an attestation carries. */
export interface AppIdentity {
  appId: string;
  instanceId: string;
  composeHash: string;
  appCompose: string;
  osImageHash?: string;
  keyProviderInfo?: string;
}

export interface Quote {
  quote: string;
  eventLog: string;
  vmConfig?: string;
}

/** The guest agent as the rest of oauth3 sees it; tests and the server share this shape. */
export interface Tee {
  /** A 32-byte key from the KMS, the same for this app and `path` on every start. */
  deriveKey(path: string): Promise<Buffer>;
  quote(reportData: Buffer): Promise<Quote>;
  identity(): Promise<AppIdentity>;
}

const KEY_PURPOSE = 'oauth3 master key';

/** dstack's SDK, loaded only in TEE mode (its first use is asking for the master key, before storage opens). */
const dstackSdk = lazy(() => import('@phala/dstack-sdk'));

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error)).slice(0, 200);

export function connectDstack(endpoint: string): Tee {
  if (endpoint.startsWith('/') && !existsSync(endpoint)) {
    throw new TeeUnavailable(
      `MASTER_KEY_SOURCE=dstack, but there is no dstack guest agent socket at ${endpoint}: run inside a dstack CVM with the ` +
        'socket mounted into the container (volumes: /var/run/dstack.sock:/var/run/dstack.sock), or set DSTACK_SOCKET',
    );
  }
  const opening = dstackSdk().then(({ DstackClient }) => new DstackClient(endpoint));
  // Never left unhandled: every use awaits it inside ask(), which turns a failure into TeeUnavailable.
  opening.catch(() => undefined);
  type Client = Awaited<typeof opening>;
  const ask = async <T>(what: string, call: (client: Client) => Promise<T>): Promise<T> => {
    try {
      return await call(await opening);
    } catch (error) {
      throw new TeeUnavailable(`dstack's guest agent at ${endpoint} could not ${what}: ${reason(error)}`);
    }
  };
  return {
    async deriveKey(path) {
      const { key } = await ask(`derive the key ${path}`, (client) => client.getKey(path, KEY_PURPOSE));
      if (key.length !== 32) {
        throw new TeeUnavailable(
          `dstack's guest agent at ${endpoint} returned a ${key.length}-byte key for ${path}; a master key is 32 bytes`,
        );
      }
      return Buffer.from(key);
    },
    async quote(reportData) {
      const answer = await ask('produce a quote', (client) => client.getQuote(reportData));
      return { quote: answer.quote, eventLog: answer.event_log, vmConfig: answer.vm_config };
    },
    async identity() {
      const info = await ask('describe this app', (client) => client.info());
      return {
        appId: info.app_id,
        instanceId: info.instance_id,
        composeHash: info.compose_hash || info.tcb_info.compose_hash,
        appCompose: info.tcb_info.app_compose,
        osImageHash: info.os_image_hash ?? info.tcb_info.os_image_hash,
        keyProviderInfo: info.key_provider_info,
      };
    },
  };
}

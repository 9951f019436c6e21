import type { AdapterPayload } from 'oidc-provider';
import type { ClientStore } from '../src/clients/store.js';
import { NO_LIVE_SECRET } from './clients.js';

/**
 * True when `client_secret` is what the adapter itself handed out (clientFromRow: the live digests, space-separated,
 * or the placeholder): oidc-provider writes it back unchanged on an RFC 7592 update. Anything else is a new plain
 * secret from its secretFactory, which a digest never equals (digests hold a colon, generated secrets are base64url).
 */
export const isStoredForm = (secret: string) => secret === NO_LIVE_SECRET || secret.split(' ').every((d) => d.startsWith('sha256:'));

/**
 * oidc-provider's Client upsert, used only by dynamic registration (RFC 7591 create, RFC 7592 update): the metadata is
 * stored in `clients` and a new plain secret only as a digest (SECURITY.md F2).
 */
export async function saveRegisteredClient(store: ClientStore, clientId: string, payload: AdapterPayload): Promise<void> {
  const { client_secret: secret, ...metadata } = payload as AdapterPayload & { client_secret?: unknown };
  const clientSecret = typeof secret === 'string' && secret && !isStoredForm(secret) ? secret : undefined;
  if (await store.replaceRegistered({ clientId, metadata, clientSecret })) return;
  await store.addRegistered({ clientId, metadata, clientSecret });
}

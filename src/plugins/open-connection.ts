import { AppError } from '../errors.js';
import { openAccess } from '../connections/access.js';
import { SealError } from '../vault/vault.js';
import type { Connection, UpstreamAccess } from './plugin.js';
import type { Logger } from '../logger.js';
import type { ResourceServices } from './services.js';

export const notConnected = (provider: string) =>
  new AppError('not_connected', 409, `The owner has not connected a ${provider} account to oauth3. They can connect one in the console.`);
export const reconnectRequired = (provider: string) =>
  new AppError('reconnect_required', 409, `The owner's ${provider} account must be connected again in the console.`);

/**
 * An owner's connection to an upstream, opened for one use: 409 when there is none or it needs re-linking, its
 * secret from the vault (or a fresh OAuth access token) otherwise. Used by the API (kit.connection) and by held
 * posts the owner approved (run-approved.ts).
 */
export async function openConnection(
  services: ResourceServices,
  logger: Logger,
  accountId: string,
  provider: string,
  lookup: Promise<Connection | undefined> = services.connections.find(accountId, provider),
): Promise<UpstreamAccess> {
  const connection = await lookup;
  if (!connection) throw notConnected(provider);
  if (connection.status === 'needs_relink') throw reconnectRequired(provider);
  let access: UpstreamAccess;
  try {
    access = await openAccess(services.connections, services.upstreamTokens, connection);
  } catch (error) {
    // A seal that no longer opens (a master key removed too early, a row tampered with) cannot be used again:
    // the owner connects anew. The error's details stay in the log (threat model G4).
    if (error instanceof SealError) {
      logger.error({ connectionId: connection.id, provider }, 'a stored credential could not be opened');
      throw reconnectRequired(provider);
    }
    throw error;
  }
  touchNow(logger, connection.id, () => services.connections.touch(connection));
  return access;
}

/** Connections whose "last used" this process wrote recently, with when. */
const touched = new Map<string, number>();
const TOUCH_EVERY_MS = 60_000;

/**
 * Bookkeeping for the console's "last used", at most once a minute per connection and process: concurrent calls for
 * one owner would otherwise queue on the same row's lock. It never slows down or fails the call, and is no
 * authorization decision, so a per-process memory is fine here.
 */
function touchNow(logger: Logger, id: string, touch: () => Promise<void>): void {
  const now = Date.now();
  if ((touched.get(id) ?? 0) > now - TOUCH_EVERY_MS) return;
  if (touched.size > 10_000) touched.clear();
  touched.set(id, now);
  touch().catch((err: unknown) => logger.warn({ err: { message: String((err as Error)?.message) } }, 'could not record connection use'));
}

/**
 * An action's upstream refused the stored credential (`reconnect_required`, threat model G6): mark the connection,
 * so the console shows "needs re-link" and later calls stop before reaching the upstream. Covers every plugin's
 * actions, whether run at once or after the owner's approval. Never masks the original error.
 */
export async function markRefusedCredential(
  services: ResourceServices,
  logger: Logger,
  access: UpstreamAccess,
  error: unknown,
): Promise<void> {
  if (!(error instanceof AppError) || error.code !== 'reconnect_required' || access.connection.status === 'needs_relink') return;
  await services.connections
    .markNeedsRelink(access.connection, 'The upstream no longer accepts the stored credential.')
    .catch((failure: unknown) =>
      logger.warn({ err: { message: String((failure as Error)?.message) } }, 'could not mark a connection for re-linking'),
    );
}

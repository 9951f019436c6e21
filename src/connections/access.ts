import type { Connection, ConnectionStore } from './store.js';
import type { UpstreamAccess } from '../plugins/plugin.js';

/** Hands out valid upstream access tokens for `oauth2` connections (implemented in src/upstream/tokens.ts). */
export interface UpstreamTokens {
  /**
   * A usable access token for the connection: the stored one while it is fresh, else one refresh at a time per
   * connection, even across processes (threat model G5). Throws `reconnect_required` when the upstream says the grant
   * is gone (G6).
   */
  accessToken(connection: Connection): Promise<string>;
}

/** Opens a connection for use: its secret from the vault and, for OAuth connections, a fresh access token. */
export async function openAccess(connections: ConnectionStore, tokens: UpstreamTokens, connection: Connection): Promise<UpstreamAccess> {
  if (connection.kind === 'oauth2') {
    const accessToken = await tokens.accessToken(connection);
    return { connection, secret: { access_token: accessToken }, accessToken };
  }
  return { connection, secret: await connections.secret(connection) };
}

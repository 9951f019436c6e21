import type { Logger } from '../logger.js';
import type { Connection, ConnectionStore } from '../connections/store.js';
import type { UpstreamProvider } from './provider-config.js';
import { authenticate, type OAuthSecret } from './token-endpoint.js';

/**
 * When an owner disconnects an OAuth account, oauth3 asks the provider to revoke what it held (RFC 7009): the
 * refresh token (which revokes the grant at most providers, §2.1) and the access token. Best effort: the connection
 * is removed either way, and a failure is logged without the token.
 */
export async function revokeUpstreamTokens(
  deps: { connections: ConnectionStore; logger: Logger; timeoutMs: number },
  provider: UpstreamProvider | undefined,
  connection: Connection,
): Promise<void> {
  if (connection.kind !== 'oauth2' || !provider?.revocationUrl) return;
  try {
    const secret = await deps.connections.secret<OAuthSecret>(connection);
    const tokens: [string, string | undefined][] = [
      ['refresh_token', secret.refresh_token],
      ['access_token', secret.access_token],
    ];
    for (const [hint, token] of tokens) {
      if (!token) continue;
      const form = new URLSearchParams({ token, token_type_hint: hint });
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      authenticate(provider, form, headers);
      const res = await (provider.fetch ?? fetch)(provider.revocationUrl, {
        method: 'POST',
        headers,
        body: form,
        redirect: 'error',
        signal: AbortSignal.timeout(deps.timeoutMs),
      });
      await res.arrayBuffer();
      if (!res.ok)
        deps.logger.warn(
          { provider: provider.id, connectionId: connection.id, status: res.status, hint },
          'upstream token revocation refused',
        );
    }
  } catch (error) {
    deps.logger.warn(
      { provider: provider.id, connectionId: connection.id, err: { name: (error as Error)?.name } },
      'upstream token revocation failed',
    );
  }
}

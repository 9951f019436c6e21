import type { ClientMetadata } from 'oidc-provider';
import type { Config } from '../config.js';

/**
 * The clients oauth3 defines in code (its own pages, and the client owner-minted agent tokens belong to). Registered
 * clients live in the database.
 *
 * The console signs owners in the way any app does: an authorization request (code + PKCE) through the same
 * passkey pages, as a first-party client whose consent is implied. The browser session it leaves behind is what
 * the console reads; the code itself is not needed.
 */
export const CONSOLE_CLIENT_ID = 'oauth3-console';
/**
 * The client every agent token an owner mints in the console is issued to. It has no redirect URI, grant type or
 * secret, so nobody can run a flow as it: its tokens exist only because the console saved them for the owner.
 */
export const AGENT_CLIENT_ID = 'oauth3-agents';
/**
 * The scopes the console's sign-in needs: who the owner is, nothing more. oidc-provider refuses any other scope for
 * the console's client (its `scope` metadata), so no page on the web can have a signed-in owner's browser approve
 * `tweet.post` for it without a consent page (docs/threat-model.md J6).
 */
export const CONSOLE_SCOPES = ['openid'];

/**
 * Whether an interaction of a first-party client may be approved without the consent page: only when everything it
 * still lacks is what that client's own page needs (its allowed scopes), and nothing of the resource API.
 */
export function consentImplied(
  clientId: string,
  missing: { oidcScopes?: string[]; claims?: string[]; resourceScopes?: Record<string, string[]> },
): boolean {
  if (clientId !== CONSOLE_CLIENT_ID) return false;
  const resourceScopes = Object.values(missing.resourceScopes ?? {}).flat();
  return (
    resourceScopes.length === 0 && !missing.claims?.length && (missing.oidcScopes ?? []).every((scope) => CONSOLE_SCOPES.includes(scope))
  );
}

export function consoleClient(config: Pick<Config, 'ISSUER'>): ClientMetadata {
  return {
    client_id: CONSOLE_CLIENT_ID,
    client_name: 'oauth3 console',
    redirect_uris: [`${config.ISSUER}/console/callback`],
    scope: CONSOLE_SCOPES.join(' '),
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
  };
}

export function agentsClient(): ClientMetadata {
  return {
    client_id: AGENT_CLIENT_ID,
    client_name: 'Your agents',
    redirect_uris: [],
    token_endpoint_auth_method: 'none',
    grant_types: [],
    response_types: [],
  };
}

export const PLAYGROUND_CLIENT_ID = 'oauth3-playground';
/** The developer portal's playground page, the playground client's only redirect URI. */
export const PLAYGROUND_PATH = '/developers/playground';

/**
 * The playground's own client, defined in code like the console's. It is harmless by construction: public (no
 * secret to steal), its only redirect URI is the playground page on this server (a code can land nowhere else, and
 * the page redeems only a code whose state it made), and it is not first-party, so the owner always sees the consent
 * screen. Its tokens are the owner's own and show up under Connected apps, where the owner can revoke them.
 */
export function playgroundClient(config: Pick<Config, 'ISSUER'>): ClientMetadata {
  return {
    client_id: PLAYGROUND_CLIENT_ID,
    client_name: 'oauth3 playground',
    redirect_uris: [`${config.ISSUER}${PLAYGROUND_PATH}`],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  };
}

import type { TestServer } from './server.js';
import { GrantDelegations, type Act, type Delegation } from '../../src/grants/delegations.js';
import { resourceServerInfo } from '../../src/provider/provider.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** A grant the narrower one comes from: an app's own (no row), or another exchanged one (its row). */
export interface ParentGrant {
  grantId: string;
  clientId: string;
  row?: Delegation;
}

/** An owner's grant to `clientId` for these resource scopes with an access token under it, as consent would leave it. */
async function grantWithToken(
  server: TestServer,
  accountId: string,
  clientId: string,
  scopes: string[],
  lifetime: number,
  gty: string,
): Promise<{ grantId: string; token: string }> {
  const { provider } = server.app;
  const audience = server.config.RESOURCE_URL;
  const grant = new provider.Grant({ accountId, clientId, expiresIn: lifetime } as never);
  grant.addResourceScope(audience, scopes.join(' '));
  const grantId = await grant.save();
  const client = await provider.Client.find(clientId);
  const resourceServer = new provider.ResourceServer(audience, resourceServerInfo(server.config, server.app.scopes, lifetime, audience));
  const token = await new provider.AccessToken({
    accountId,
    client,
    grantId,
    gty,
    resourceServer,
    scope: scopes.join(' '),
    expiresWithSession: false,
    expiresIn: lifetime,
  } as never).save();
  return { grantId, token };
}

/** An app's own grant for an owner, made directly (for tests that drive the console, not the consent pages). */
export const appGrant = (server: TestServer, accountId: string, clientId: string, scopes: string[]) =>
  grantWithToken(server, accountId, clientId, scopes, 3600, 'authorization_code');

/**
 * A narrower token for `clientId` under `parent`, made the way the token endpoint's exchange makes it: a Grant of the
 * helper's client for the owner, an access token under it, and the grant_delegations row naming where it came from.
 */
export async function delegate(
  server: TestServer,
  accountId: string,
  parent: ParentGrant,
  clientId: string,
  scopes: string[],
  act: Act,
): Promise<{ row: Delegation; token: string }> {
  const lifetime = 600;
  const { grantId, token } = await grantWithToken(server, accountId, clientId, scopes, lifetime, TOKEN_EXCHANGE);
  const row = await new GrantDelegations(server.db).record(
    {
      grantId,
      parentGrantId: parent.grantId,
      accountId,
      clientId,
      parentClientId: parent.clientId,
      act,
      scopes,
      audience: server.config.RESOURCE_URL,
      expiresAt: new Date(Date.now() + lifetime * 1000),
    },
    parent.row,
  );
  return { row, token };
}

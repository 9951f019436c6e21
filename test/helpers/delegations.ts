import { expect } from '@jest/globals';
import type { TestServer } from './server.js';
import { basic } from './token-flow.js';
import { GrantDelegations, type Act, type Delegation } from '../../src/grants/delegations.js';
import { resourceServerInfo } from '../../src/provider/provider.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** A token endpoint answer, as the exchange tests read it. */
export interface ExchangeReply {
  status: number;
  body: Record<string, unknown>;
}

/** A form POST to one of `server`'s endpoints, `client` authenticating with its secret (undefined: no authentication). */
export async function postForm(
  server: TestServer,
  path: string,
  client: { clientId: string; clientSecret?: string } | undefined,
  form: Record<string, string>,
): Promise<ExchangeReply> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (client) headers.authorization = basic(client.clientId, client.clientSecret!);
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A token exchange (RFC 8693): `client` trades `subject` (an access token) with the `extra` parameters. */
export const exchangeToken = (
  server: TestServer,
  client: { clientId: string; clientSecret?: string } | undefined,
  subject: string,
  extra: Record<string, string> = {},
): Promise<ExchangeReply> =>
  postForm(server, '/token', client, {
    grant_type: TOKEN_EXCHANGE,
    subject_token: subject,
    subject_token_type: ACCESS_TOKEN_TYPE,
    ...extra,
  });

/** A refusal: the RFC error, and no token of any kind in the body. */
export function expectRefused(reply: ExchangeReply, error: string, status = 400): void {
  expect(reply).toMatchObject({ status, body: { error } });
  expect(reply.body).not.toHaveProperty('access_token');
  expect(reply.body).not.toHaveProperty('refresh_token');
}

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

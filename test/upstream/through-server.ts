import { expect } from '@jest/globals';
import type { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import type { ConnectionJson } from '../helpers/connections.js';
import type { TestServer } from '../helpers/server.js';
import { callApi, type Owner } from '../helpers/owner.js';
import type { FaultyGateway } from './gateway.js';

export const PROVIDER = 'fakeoauth';
export const SCOPE = `upstream:${PROVIDER}`;

/** The fake provider's UPSTREAM_PROVIDERS entry, with every URL going through the gateway in front of it. */
export function providerEntry(fake: FakeOAuthProvider, gateway: FaultyGateway): Record<string, unknown> {
  return JSON.parse(JSON.stringify(fake.config(PROVIDER)).split(fake.url).join(gateway.url)) as Record<string, unknown>;
}

/** Every header as `name: value` lines (Headers is not iterable under this project's lib settings). */
function headerText(headers: Headers): string {
  const lines: string[] = [];
  headers.forEach((value, name) => lines.push(`${name}: ${value}`));
  return lines.join('\n');
}

/**
 * Everything a server sent back in a suite (status, headers, bodies) and every log line it wrote, for the leak check
 * (threat model G2) at the end: no upstream token nor the provider's client secret may be in any of it.
 */
export class Seen {
  readonly texts: string[] = [];
  readonly logs: string[][] = [];

  async response(res: Response): Promise<string> {
    const text = await res.text();
    this.texts.push(`${res.status} ${headerText(res.headers)}\n${text}`);
    return text;
  }

  async api(server: TestServer, path: string, token: string) {
    const res = await callApi(server, path, token);
    this.texts.push(`${res.status} ${headerText(res.headers)}\n${res.text}`);
    return res;
  }

  async connections(owner: Owner): Promise<ConnectionJson[]> {
    const res = await owner.api.get('/console/api/connections');
    expect(res.status).toBe(200);
    return (JSON.parse(await this.response(res)) as { connections: ConnectionJson[] }).connections;
  }
}

/**
 * The upstream secrets the fake ever issued or holds: access and refresh tokens, authorization codes (only ever in
 * the owner's browser, never in a log line), the client secret raw and as HTTP Basic credentials.
 */
export function upstreamSecrets(fake: FakeOAuthProvider): string[] {
  const list = [...fake.secrets].filter((s) => /^(at|rt|cs|code)_/.test(s));
  if (fake.clientSecret) list.push(Buffer.from(`${fake.clientId}:${fake.clientSecret}`).toString('base64'));
  return list;
}

/** The first of `secrets` found in `texts`, with where, so a failure names what leaked. */
export function firstLeak(texts: string[], secrets: string[]): string | undefined {
  for (const secret of secrets) {
    const at = texts.findIndex((t) => t.includes(secret));
    if (at >= 0) return `${secret.slice(0, 6)}… in ${texts[at]!.slice(0, 300)}`;
  }
  return undefined;
}

/**
 * An OAuth connect as the owner does it: Connect in the console, their browser at the provider (which approves and
 * redirects back), then oauth3's /connections/callback, which lands on the console's Connected accounts page.
 */
export async function connectFromConsole(owner: Owner, seen: Seen, authorizationUrl?: string): Promise<void> {
  let url = authorizationUrl;
  if (!url) {
    const start = await owner.api.send('POST', `/console/api/connections/oauth/${PROVIDER}`);
    expect(start.status).toBe(200);
    url = (JSON.parse(await seen.response(start)) as { authorization_url: string }).authorization_url;
  }
  const atProvider = await fetch(url, { redirect: 'manual' });
  expect(atProvider.status).toBe(302);
  const back = atProvider.headers.get('location')!;
  expect(back.startsWith(`${owner.server.url}/connections/callback?`)).toBe(true);
  expect(new URL(back).searchParams.get('code')).toEqual(expect.any(String));
  const landed = await owner.browser.navigate(back);
  await seen.response(landed.response);
  expect({ url: landed.url, status: landed.response.status }).toEqual({ url: `${owner.server.url}/console/connections`, status: 200 });
}

/** The stored connection of this owner, read afresh, and its opened secret (as the server itself opens it). */
export async function stored(server: TestServer, accountId: string) {
  const connection = (await server.app.connections.list(accountId)).find((c) => c.provider === PROVIDER);
  if (!connection) throw new Error('no connection stored');
  const secret = await server.app.connections.secret<{ access_token: string; refresh_token?: string }>(connection);
  return { connection, secret };
}

/** Makes the stored access token look expired, so the next call must refresh it. */
export async function expire(server: TestServer, accountId: string): Promise<void> {
  await server.db.query(`UPDATE connections SET expires_at = now() - interval '1 minute' WHERE account_id = $1 AND provider = $2`, [
    accountId,
    PROVIDER,
  ]);
}

import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoadResult, RefreshLoad, RoundTripLoad } from './protocol.js';
import { Tally } from './stats.js';

/**
 * The load generator for scenarios whose requests depend on earlier answers, which autocannon's fixed request
 * sequences cannot chain (its per-connection context is reset after every pass): `connections` loops, each with one
 * request in flight on a keep-alive socket, running without a break from the warm-up into the measured window, so a
 * refresh-token chain is never cut between the two. A unit counts when it starts inside the measured window; a failure
 * counts whenever it happens.
 */

class Timeout extends Error {}

interface Reply {
  status: number;
  location?: string;
  body: string;
}

type Send = (method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string) => Promise<Reply>;

function httpClient(origin: string, connections: number): { send: Send; close: () => void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const { hostname, port } = new URL(origin);
  const send: Send = (method, path, headers, body) =>
    new Promise<Reply>((resolve, reject) => {
      const req = http.request(
        {
          agent,
          hostname,
          port,
          method,
          path,
          headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString() }),
          );
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Timeout('no answer in 10 s')));
      req.on('error', reject);
      req.end(body);
    });
  return { send, close: () => agent.destroy() };
}

/** One unit of work on connection `i`: its outcome ("200", "/auth 303 → /token 200", …). */
type Step = (i: number) => Promise<string>;

async function drive(
  timing: { connections: number; warmupSeconds: number; durationSeconds: number },
  expected: string[],
  step: Step,
  { stopOnFailure }: { stopOnFailure: boolean },
  measuring: () => Promise<void>,
): Promise<LoadResult> {
  const tally = new Tally(expected);
  const measureFrom = performance.now() + timing.warmupSeconds * 1000;
  const end = measureFrom + timing.durationSeconds * 1000;
  const signal = sleep(timing.warmupSeconds * 1000).then(measuring);
  const loop = async (i: number) => {
    for (let started = performance.now(); started < end; started = performance.now()) {
      const measured = started >= measureFrom;
      let outcome: string;
      try {
        outcome = await step(i);
      } catch (error) {
        if (error instanceof Timeout) tally.timeouts++;
        else tally.errors++;
        if (stopOnFailure) return;
        continue;
      }
      const ok = expected.includes(outcome);
      // Warm-up successes are thrown away; a failure anywhere makes the run invalid.
      if (measured || !ok) tally.record(outcome, measured ? performance.now() - started : undefined);
      if (!ok && stopOnFailure) return;
    }
  };
  await Promise.all([signal, ...Array.from({ length: timing.connections }, (_, i) => loop(i))]);
  return tally.result(timing.durationSeconds);
}

const FORM = 'application/x-www-form-urlencoded';
const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

/** GET /auth then POST /token, as one unit: a fresh PKCE pair and state every time, the session and grant seeded. */
export async function roundTrips(options: RoundTripLoad, measuring: () => Promise<void>): Promise<LoadResult> {
  const { send, close } = httpClient(options.url, options.connections);
  const step: Step = async () => {
    const verifier = randomBytes(32).toString('base64url');
    const query = new URLSearchParams({
      client_id: options.clientId,
      response_type: 'code',
      redirect_uri: options.redirectUri,
      scope: options.scope,
      state: randomBytes(8).toString('hex'),
      code_challenge: s256(verifier),
      code_challenge_method: 'S256',
    });
    const auth = await send('GET', `/auth?${query}`, { cookie: options.cookie });
    const callback = auth.location && URL.canParse(auth.location) ? new URL(auth.location) : undefined;
    const code = callback?.searchParams.get('code');
    if (!code) return `/auth ${auth.status} (${callback?.searchParams.get('error') ?? 'no code'})`;
    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: options.redirectUri,
      code_verifier: verifier,
    });
    const token = await send('POST', '/token', { authorization: options.authorization, 'content-type': FORM }, form.toString());
    const issued = token.status === 200 && typeof (JSON.parse(token.body) as { access_token?: unknown }).access_token === 'string';
    return `/auth ${auth.status} → /token ${token.status}${token.status === 200 && !issued ? ' without an access token' : ''}`;
  };
  try {
    return await drive(options, ['/auth 302 → /token 200', '/auth 303 → /token 200'], step, { stopOnFailure: false }, measuring);
  } finally {
    close();
  }
}

/** Refresh rotation: connection i redeems its refresh token and keeps the new one; a broken chain stops its loop. */
export async function refreshes(options: RefreshLoad, measuring: () => Promise<void>): Promise<LoadResult> {
  if (options.refreshTokens.length < options.connections) throw new Error('one refresh token per connection is needed');
  const chains = options.refreshTokens.slice(0, options.connections);
  const { send, close } = httpClient(options.url, options.connections);
  const step: Step = async (i) => {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: chains[i]! });
    const reply = await send('POST', '/token', { authorization: options.authorization, 'content-type': FORM }, form.toString());
    if (reply.status !== 200) return String(reply.status);
    const next = (JSON.parse(reply.body) as { refresh_token?: unknown }).refresh_token;
    if (typeof next !== 'string' || next === chains[i]) return '200 without a new refresh token';
    chains[i] = next;
    return '200';
  };
  try {
    return await drive(options, ['200'], step, { stopOnFailure: true }, measuring);
  } finally {
    close();
  }
}

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { basic, redirectUri, type Client } from '../helpers/token-flow.js';
import { DpopKey, athOf, hmacProof, unsignedProof, type ProofOverrides } from '../helpers/dpop.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';
import { PROOF_WINDOW_SECONDS } from '../../src/resource/dpop.js';
import { DPOP_SIGNING_ALGS } from '../../src/provider/dpop-algorithms.js';
import { deleteExpired } from '../../adapters/index.js';

const challengeOf = (headers: Headers) => headers.get('www-authenticate') ?? '';
const now = () => Math.floor(Date.now() / 1000);

/**
 * DPoP (RFC 9449) at the resource API, tried as attacks (threat model J5): a token bound to a key (`cnf.jkt`) is
 * accepted only with the DPoP scheme and a proof made for this very request, this token and that key, once. Each
 * refusal below breaks exactly one check of RFC 9449 §4.3 in a proof that is otherwise valid, and the upstream is
 * never called for it.
 */
describe.each(backends())('DPoP-bound tokens at the resource API on %s storage (threat model J5)', (backend) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let owner: Owner;
  let app: Client;
  let key: DpopKey;
  let token: string;
  const url = (path = '/echo/me') => `${server.url}/api${path}`;

  /** An owner's token for `app` through consent, bound to `with` by the proof sent with the code's redemption. */
  async function boundToken(withKey: DpopKey, scope = 'openid echo.read echo.post'): Promise<string> {
    const { accessToken, body } = await owner.appToken(app, scope, { dpop: await withKey.proof('POST', `${server.url}/token`) });
    expect(body.token_type).toBe('DPoP');
    return accessToken;
  }

  /** A call with `Authorization: <scheme> <token>` and the given DPoP header (none when undefined). */
  function call(accessToken: string, proof: string | undefined, { scheme = 'DPoP', path = '/echo/me', method = 'GET' } = {}) {
    return callApi(server, path, undefined, {
      method,
      headers: { authorization: `${scheme} ${accessToken}`, ...(proof ? { dpop: proof } : {}) },
    });
  }

  /** A proof for GET /api/echo/me with `token`, with one thing changed. */
  const proofWith = (overrides: ProofOverrides, withKey = key) => withKey.proof('GET', url(), token, overrides);

  /** 401 with this error, for the reason `why` names (the description), and both challenges. */
  async function expectRefused(
    res: Awaited<ReturnType<typeof call>>,
    error: 'invalid_dpop_proof' | 'invalid_token',
    why: RegExp,
    scheme: 'DPoP' | 'Bearer' = 'DPoP',
  ) {
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 401, error });
    expect(res.body.error_description).toMatch(why);
    // The error is in the challenge of the scheme the token came with; the other challenge is offered plainly.
    expect(challengeOf(res.headers)).toContain(`${scheme} realm="oauth3", error="${error}"`);
    expect(challengeOf(res.headers)).toContain(`DPoP realm="oauth3"`);
    expect(challengeOf(res.headers)).toContain(`algs="${DPOP_SIGNING_ALGS.join(' ')}"`);
    // RFC 6750 §3: no quote or backslash inside error_description, even escaped, so every client parses it.
    expect(challengeOf(res.headers)).not.toContain('\\');
  }

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({ backend, plugins: [echoPlugin(() => upstream.url)] });
    owner = await Owner.signUp(server);
    await server.app.connections.save(owner.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo account',
      secret: { key: 'echo-dpop-key-1234' },
    });
    app = await server.addClient({ name: 'DPoP app', redirectUris: [redirectUri] });
    key = await DpopKey.generate();
    token = await boundToken(key);
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  it('binds the token to the key of the proof sent to the token endpoint (cnf.jkt)', async () => {
    const res = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basic(app.clientId, app.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    expect(await res.json()).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.thumbprint } });
  });

  it('accepts the bound token with the DPoP scheme and a fresh proof for this request', async () => {
    const before = upstream.received.length;
    const res = await call(token, await proofWith({}));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ label: 'echo account' });
    expect(upstream.received.length).toBe(before + 1);
    // Query and fragment are not part of htu (§4.3 item 9); the scheme name is case-insensitive.
    const withQuery = await callApi(server, '/echo/me?x=1', undefined, {
      headers: { authorization: `dpop ${token}`, dpop: await key.proof('GET', `${url()}?y=2#f`, token) },
    });
    expect(withQuery.status).toBe(200);
    // A POST is proven with htm POST.
    const post = await call(token, await key.proof('POST', url('/echo/posts'), token), { method: 'POST', path: '/echo/posts' });
    expect(post.status).not.toBe(401);
  });

  describe('refuses a proof that breaks one check', () => {
    let before: number;
    beforeAll(() => {
      before = upstream.received.length;
    });
    afterAll(() => {
      // None of the refused calls reached the upstream.
      expect(upstream.received.length).toBe(before);
    });

    it('no DPoP header at all', async () => {
      await expectRefused(await call(token, undefined), 'invalid_dpop_proof', /needs a DPoP proof/);
    });

    it('two DPoP headers (§4.3 item 1)', async () => {
      const [first, second] = [await proofWith({}), await proofWith({})];
      const status = await new Promise<{ status: number; challenge: string }>((resolve, reject) => {
        const req = http.request(
          url(),
          { method: 'GET', agent: false, headers: { authorization: `DPoP ${token}`, dpop: [first, second] } },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode!, challenge: String(res.headers['www-authenticate']) }));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(status.status).toBe(401);
      expect(status.challenge).toContain('error="invalid_dpop_proof"');
    });

    it('a wrong htm (a GET proven as POST)', async () => {
      await expectRefused(await call(token, await proofWith({ htm: 'POST' })), 'invalid_dpop_proof', /"htm"/);
    });

    it('a wrong htu: another path of the API', async () => {
      await expectRefused(await call(token, await proofWith({ htu: url('/echo/items/1') })), 'invalid_dpop_proof', /"htu"/);
    });

    it('a wrong htu: the same path on another host, even with that Host header sent', async () => {
      const elsewhere = `http://evil.example:${new URL(server.url).port}/api/echo/me`;
      await expectRefused(await call(token, await proofWith({ htu: elsewhere })), 'invalid_dpop_proof', /"htu"/);
      const proof = await proofWith({ htu: elsewhere });
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(
          url(),
          { method: 'GET', agent: false, headers: { host: new URL(elsewhere).host, authorization: `DPoP ${token}`, dpop: proof } },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode!));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(401);
    });

    it("a wrong htu: https instead of the issuer's http", async () => {
      await expectRefused(await call(token, await proofWith({ htu: url().replace(/^http:/, 'https:') })), 'invalid_dpop_proof', /"htu"/);
    });

    it(`an iat more than ${PROOF_WINDOW_SECONDS} s old`, async () => {
      await expectRefused(await call(token, await proofWith({ iat: now() - PROOF_WINDOW_SECONDS - 30 })), 'invalid_dpop_proof', /"iat"/);
    });

    it(`an iat more than ${PROOF_WINDOW_SECONDS} s ahead`, async () => {
      await expectRefused(await call(token, await proofWith({ iat: now() + PROOF_WINDOW_SECONDS + 30 })), 'invalid_dpop_proof', /"iat"/);
    });

    it('no iat, no jti, no htm, no htu', async () => {
      for (const missing of ['iat', 'jti', 'htm', 'htu'] as const) {
        await expectRefused(await call(token, await proofWith({ [missing]: undefined })), 'invalid_dpop_proof', new RegExp(`"${missing}"`));
      }
    });

    it('no ath, or the ath of another token', async () => {
      await expectRefused(await call(token, await proofWith({ ath: undefined })), 'invalid_dpop_proof', /"ath"/);
      await expectRefused(await call(token, await proofWith({ ath: athOf(`${token}x`) })), 'invalid_dpop_proof', /"ath"/);
    });

    it('a proof by another key, valid in every other way', async () => {
      const other = await DpopKey.generate();
      await expectRefused(await call(token, await proofWith({}, other)), 'invalid_token', /not bound to the key of this DPoP proof/);
    });

    it('a typ other than dpop+jwt', async () => {
      await expectRefused(await call(token, await proofWith({ typ: 'JWT' })), 'invalid_dpop_proof', /typ/);
    });

    it('alg none', async () => {
      const proof = unsignedProof(key.publicJwk, { htm: 'GET', htu: url(), iat: now(), jti: `none-${Date.now()}`, ath: athOf(token) });
      await expectRefused(await call(token, proof), 'invalid_dpop_proof', /alg|Algorithm|Unsupported/i);
    });

    it('HS256, with the secret in the proof or naming the bound public key', async () => {
      const claims = () => ({ htm: 'GET', htu: url(), iat: now(), jti: `hs-${Math.random()}`, ath: athOf(token) });
      await expectRefused(await call(token, await hmacProof(claims())), 'invalid_dpop_proof', /public key/);
      await expectRefused(await call(token, await hmacProof(claims(), key.publicJwk)), 'invalid_dpop_proof', /"alg"/);
    });

    it('a private key in jwk', async () => {
      await expectRefused(await call(token, await proofWith({ jwk: await key.privateJwk() })), 'invalid_dpop_proof', /public key/);
    });

    it('a signature that does not verify', async () => {
      const [h, p, s] = (await proofWith({})).split('.');
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), htm: 'GET', jti: 'forged' })).toString('base64url')}.${s}`;
      await expectRefused(await call(token, forged), 'invalid_dpop_proof', /signature/);
    });

    it('a proof that is not a JWT', async () => {
      await expectRefused(await call(token, 'not-a-proof'), 'invalid_dpop_proof', /not a JWT|not valid/);
    });
  });

  describe('accepts each proof once (RFC 9449 §11.1)', () => {
    it('refuses the same proof sent again', async () => {
      const proof = await proofWith({});
      expect((await call(token, proof)).status).toBe(200);
      const before = upstream.received.length;
      await expectRefused(await call(token, proof), 'invalid_dpop_proof', /used before/);
      expect(upstream.received.length).toBe(before);
    });

    it('refuses a new proof that reuses a jti of the same key', async () => {
      const jti = `reused-${Date.now()}`;
      expect((await call(token, await proofWith({ jti }))).status).toBe(200);
      await expectRefused(await call(token, await proofWith({ jti, iat: now() - 1 })), 'invalid_dpop_proof', /used before/);
    });

    it('keeps the accepted proofs in Redis when configured, else in the database, whose sweep removes expired ones', async () => {
      expect((await call(token, await proofWith({}))).status).toBe(200);
      const count = async () => (await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM dpop_replay')).rows[0]!.n;
      if (backend === 'postgres+redis') {
        expect(await count()).toBe(0);
        return;
      }
      expect(await count()).toBeGreaterThan(0);
      await server.db.query(`UPDATE dpop_replay SET expires_at = now() - interval '1 second'`);
      await deleteExpired(server.db);
      expect(await count()).toBe(0);
    });

    it('remembers a proof whose call failed after the token check (a bad body): it is not good a second time', async () => {
      const proof = await key.proof('POST', url('/echo/posts'), token);
      const first = await callApi(server, '/echo/posts', undefined, {
        body: { text: '' },
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      });
      expect(first.status).toBe(400);
      const again = await callApi(server, '/echo/posts', undefined, {
        body: { text: 'now valid' },
        headers: { authorization: `DPoP ${token}`, dpop: proof },
      });
      await expectRefused(again, 'invalid_dpop_proof', /used before/);
    });
  });

  describe('keeps bound and unbound tokens to their own scheme', () => {
    it('refuses a DPoP-bound token presented as Bearer, with or without a proof', async () => {
      await expectRefused(await call(token, undefined, { scheme: 'Bearer' }), 'invalid_token', /bound to a DPoP key/, 'Bearer');
      await expectRefused(await call(token, await proofWith({}), { scheme: 'Bearer' }), 'invalid_token', /bound to a DPoP key/, 'Bearer');
    });

    it('refuses a plain bearer token presented with the DPoP scheme, even with a valid proof for it', async () => {
      const plain = (await owner.appToken(app, 'openid echo.read')).accessToken;
      expect((await callApi(server, '/echo/me', plain)).status).toBe(200);
      await expectRefused(
        await call(plain, await key.proof('GET', url(), plain)),
        'invalid_token',
        /not bound to the key of this DPoP proof/,
      );
    });
  });

  it('never writes the token or a proof into a log line', async () => {
    const proof = await proofWith({});
    expect((await call(token, proof)).status).toBe(200);
    await call(token, proof);
    const logs = server.logs.join('');
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(proof.split('.')[2]);
  });

  it('offers both schemes when no token is sent, with the algorithms a proof may use', async () => {
    const res = await callApi(server, '/echo/me', undefined);
    expect(res.status).toBe(401);
    const metadata = `resource_metadata="${server.url}/.well-known/oauth-protected-resource"`;
    expect(challengeOf(res.headers)).toBe(
      `Bearer realm="oauth3", ${metadata}, DPoP realm="oauth3", algs="${DPOP_SIGNING_ALGS.join(' ')}", ${metadata}`,
    );
  });

  it('advertises DPoP in the RFC 9728 metadata with the algorithms discovery names', async () => {
    const prm = (await (await fetch(`${server.url}/.well-known/oauth-protected-resource`)).json()) as Record<string, unknown>;
    const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(prm).toMatchObject({ dpop_signing_alg_values_supported: DPOP_SIGNING_ALGS, dpop_bound_access_tokens_required: false });
    expect(discovery.dpop_signing_alg_values_supported).toEqual(DPOP_SIGNING_ALGS);
  });
});

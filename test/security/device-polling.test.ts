import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';

/**
 * The device flow's polling interval (RFC 8628 §3.2, §3.5; docs/threat-model.md B9): the device authorization
 * response says how often to poll, and a device polling faster is told `slow_down`, its interval 5 seconds longer
 * for every later poll of that device code. Without it a device could poll the token endpoint as fast as it liked.
 */

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(backends())('device polling on %s storage (B9)', (backend) => {
  let server: TestServer;
  let clientId: string;

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { DEVICE_POLL_INTERVAL: '1' } });
    ({ clientId } = await server.addClient({ name: 'Polling CLI', public: true, grantTypes: [DEVICE_GRANT] }));
  });
  afterAll(() => server?.stop());

  async function authorizeDevice(): Promise<{ device_code: string; interval: number }> {
    const res = await fetch(`${server.url}/device/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, scope: 'openid' }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { device_code: string; interval: number };
  }

  async function pollOnce(deviceCode: string): Promise<{ status: number; error: string }> {
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: clientId }),
    });
    return { status: res.status, error: ((await res.json()) as { error: string }).error };
  }

  it('announces the polling interval in the device authorization response (RFC 8628 §3.2)', async () => {
    expect((await authorizeDevice()).interval).toBe(1);
    const defaults = await startTestServer({ backend });
    try {
      const { clientId: other } = await defaults.addClient({ name: 'Default CLI', public: true, grantTypes: [DEVICE_GRANT] });
      const res = await fetch(`${defaults.url}/device/auth`, {
        method: 'POST',
        body: new URLSearchParams({ client_id: other, scope: 'openid' }),
      });
      expect(((await res.json()) as { interval: number }).interval).toBe(5);
    } finally {
      await defaults.stop();
    }
  });

  it('answers a poll sooner than the interval with slow_down, and makes that device code wait 5 s longer from then on', async () => {
    const { device_code } = await authorizeDevice();
    expect(await pollOnce(device_code)).toEqual({ status: 400, error: 'authorization_pending' });
    expect(await pollOnce(device_code)).toEqual({ status: 400, error: 'slow_down' });
    // The old interval has passed, but this device code's interval is now 6 s.
    await sleep(1200);
    expect(await pollOnce(device_code)).toEqual({ status: 400, error: 'slow_down' });
    expect(await pollOnce(device_code)).toEqual({ status: 400, error: 'slow_down' });
  });

  it('keeps each device code to its own interval: another device polling on time is not slowed', async () => {
    const hasty = await authorizeDevice();
    const patient = await authorizeDevice();
    await pollOnce(hasty.device_code);
    expect((await pollOnce(hasty.device_code)).error).toBe('slow_down');
    for (let i = 0; i < 3; i++) {
      expect(await pollOnce(patient.device_code)).toEqual({ status: 400, error: 'authorization_pending' });
      await sleep(1100);
    }
  });

  it('slows openid-client down when it polls faster than told, and never when it polls at the interval', async () => {
    const answers: string[] = [];
    // The honest client is stopped after its third answer, however long a busy machine takes to send them.
    const enough = new AbortController();
    let stopAfter = 3;
    const counting: oidc.CustomFetch = async (url, options) => {
      const res = await fetch(url, options as RequestInit);
      if (url.endsWith('/token')) answers.push(((await res.clone().json()) as { error?: string }).error ?? 'tokens');
      if (answers.length >= stopAfter) enough.abort();
      return res;
    };
    const config = await oidc.discovery(new URL(server.url), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    config[oidc.customFetch] = counting;

    const honest = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    expect(honest.interval).toBe(1);
    await expect(
      oidc.pollDeviceAuthorizationGrant(config, honest, undefined, {
        signal: AbortSignal.any([enough.signal, AbortSignal.timeout(30_000)]),
      }),
    ).rejects.toThrow();
    expect(answers).toEqual(['authorization_pending', 'authorization_pending', 'authorization_pending']);

    answers.length = 0;
    stopAfter = Infinity;
    const hasty = await oidc.initiateDeviceAuthorization(config, { scope: 'openid' });
    await expect(
      oidc.pollDeviceAuthorizationGrant(config, { ...hasty, interval: 0.1 }, undefined, { signal: AbortSignal.timeout(2500) }),
    ).rejects.toThrow();
    // Pending, then slow_down; openid-client then waits 5 s more and sends nothing else before the test gives up. On a
    // machine too busy to send the polls 0.1 s apart, a second one may come late enough to be merely pending.
    expect(answers[0]).toBe('authorization_pending');
    expect(answers.at(-1)).toBe('slow_down');
    expect(answers.filter((a) => a === 'slow_down')).toHaveLength(1);
    expect(answers.length).toBeLessThanOrEqual(3);
  });

  it('keeps no device code in storage, only its digest', async () => {
    const { device_code } = await authorizeDevice();
    await pollOnce(device_code);
    const { rows } = await server.db.query<{ key: string }>('SELECT key FROM device_polls');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.key)).not.toContain(device_code);
  });
});

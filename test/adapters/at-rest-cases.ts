import { randomBytes, randomInt } from 'node:crypto';
import { expect, it } from '@jest/globals';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { digestOf } from '../../src/db/at-rest-keys.js';

/**
 * No usable credential at rest (docs/threat-model.md J2), for the adapter conformance suite: every model saved the
 * way oidc-provider saves it, then the whole store read back as an attacker with a dump would read it.
 */
export interface AtRestBackend {
  adapter(model: string): Adapter;
  /** Everything stored: each row or Redis key as text (every column, or the key name and all it holds), and its key. */
  dump(): Promise<{ text: string; key: string }[]>;
}

interface Saved {
  model: string;
  id: string;
  payload: AdapterPayload;
  /** What oidc-provider hands to a client or browser for this entry (and repeats in its payload). */
  handedOut: string[];
}

const PUSHED = 'urn:ietf:params:oauth:request_uri:';
const token = () => randomBytes(32).toString('base64url');
const nanoid = () => randomBytes(16).toString('base64url').slice(0, 21);
/** An RFC 8628 user code as oidc-provider stores it: base-20, normalized (no dash, upper case). */
const userCode = () => Array.from({ length: 8 }, () => 'BCDFGHJKLMNPQRSTVWXZ'[randomInt(20)]).join('');
const now = () => Math.floor(Date.now() / 1000);

/** One entry of every model oidc-provider stores through an adapter, with every field that names a handed-out value. */
function everyModel(): Saved[] {
  const grantId = nanoid();
  const sessionUid = nanoid();
  const [sessionId, interactionId, deviceCode, pushedId, code] = [nanoid(), nanoid(), token(), nanoid(), token()];
  const typed = userCode();
  const base = (kind: string, jti: string) => ({ kind, jti, iat: now(), exp: now() + 600 });
  const tokenFields = { accountId: 'alice', clientId: 'app', grantId, scope: 'openid tweet.read', sessionUid, expiresWithSession: true };
  const saved: Saved[] = [
    { model: 'AccessToken', id: token(), payload: {}, handedOut: [] },
    { model: 'ClientCredentials', id: token(), payload: {}, handedOut: [] },
    { model: 'RefreshToken', id: token(), payload: {}, handedOut: [] },
    { model: 'RegistrationAccessToken', id: token(), payload: {}, handedOut: [] },
    { model: 'InitialAccessToken', id: token(), payload: {}, handedOut: [] },
    { model: 'ReplayDetection', id: token(), payload: {}, handedOut: [] },
  ].map((s) => ({ ...s, payload: { ...base(s.model, s.id), ...tokenFields, aud: 'http://localhost/api' }, handedOut: [s.id] }));
  saved.push(
    {
      model: 'AuthorizationCode',
      id: code,
      handedOut: [code],
      payload: {
        ...base('AuthorizationCode', code),
        ...tokenFields,
        codeChallenge: token(),
        codeChallengeMethod: 'S256',
        redirectUri: 'https://app.example/cb',
      },
    },
    {
      model: 'DeviceCode',
      id: deviceCode,
      handedOut: [deviceCode, typed, `${typed.slice(0, 4)}-${typed.slice(4)}`],
      payload: {
        ...base('DeviceCode', deviceCode),
        clientId: 'cli',
        userCode: typed,
        params: { client_id: 'cli', scope: 'openid' },
        deviceInfo: { ip: '127.0.0.1', ua: 'curl' },
      },
    },
    {
      model: 'Session',
      id: sessionId,
      handedOut: [sessionId],
      payload: {
        ...base('Session', sessionId),
        uid: sessionUid,
        accountId: 'alice',
        loginTs: now(),
        authorizations: { app: { sid: nanoid(), grantId } },
      },
    },
    {
      model: 'PushedAuthorizationRequest',
      id: pushedId,
      handedOut: [pushedId, `${PUSHED}${pushedId}`],
      payload: { ...base('PushedAuthorizationRequest', pushedId), request: 'eyJhbGciOiJub25lIn0.eyJjbGllbnRfaWQiOiJhcHAifQ.', trusted: [] },
    },
    {
      // An interaction repeats its own id, its session's cookie, and names the device code and pushed request it resumes.
      model: 'Interaction',
      id: interactionId,
      handedOut: [interactionId],
      payload: {
        ...base('Interaction', interactionId),
        returnTo: `http://localhost:3000/auth/${interactionId}`,
        prompt: { name: 'login', reasons: ['no_session'], details: {} },
        params: { client_id: 'app', redirect_uri: 'https://app.example/cb', scope: 'openid', request_uri: `${PUSHED}${pushedId}` },
        session: { accountId: 'alice', uid: sessionUid, cookie: sessionId },
        deviceCode,
        parJti: pushedId,
        lastSubmission: { login: { accountId: 'alice' } },
        grantId,
        cid: nanoid(),
      },
    },
  );
  return saved;
}

async function saveAll(backend: AtRestBackend): Promise<Saved[]> {
  const saved = everyModel();
  for (const { model, id, payload } of saved) await backend.adapter(model).upsert(id, structuredClone(payload), 600);
  return saved;
}

export function atRestCases(backend: () => AtRestBackend): void {
  it('stores no value it hands out, in any key, column or value, for every model (J2)', async () => {
    const saved = await saveAll(backend());
    const dump = await backend().dump();
    const keys = new Set(dump.map((entry) => entry.key));
    for (const { model, id, handedOut } of saved) {
      // The entry is there, under the digest of its id (the scan below looked at it).
      expect({ model, stored: keys.has(digestOf(model, id)) }).toEqual({ model, stored: true });
      for (const value of handedOut) {
        expect({ model, value, foundIn: dump.filter((entry) => entry.text.includes(value)).map((entry) => entry.text) }).toEqual({
          model,
          value,
          foundIn: [],
        });
      }
    }
  });

  it('finds each model by the value it handed out, with the payload oidc-provider saved', async () => {
    for (const { model, id, payload } of await saveAll(backend())) {
      const found = await backend().adapter(model).find(id);
      if (model === 'Interaction') {
        expect(found).toMatchObject({
          jti: id,
          returnTo: payload.returnTo,
          session: { accountId: 'alice', uid: (payload.session as { uid: string }).uid },
        });
      } else if (model === 'DeviceCode') {
        // Found by the device code, not by its user code: the user code is a stand-in (findByUserCode gives it back).
        expect(found).toEqual({ ...payload, userCode: expect.stringMatching(/^~/) });
        expect(await backend().adapter(model).findByUserCode(String(payload.userCode))).toEqual({
          ...payload,
          jti: expect.stringMatching(/^~/),
        });
      } else {
        expect({ model, found }).toEqual({ model, found: payload });
      }
    }
  });

  it('leads from an interaction to the device code and pushed request it names, and to its own resume URL', async () => {
    const saved = await saveAll(backend());
    const byModel = (model: string) => saved.find((s) => s.model === model)!;
    const interaction = (await backend().adapter('Interaction').find(byModel('Interaction').id))!;
    // oidc-provider never reads the session's cookie back from an interaction: it is not kept.
    expect(interaction.session).toEqual({ accountId: 'alice', uid: (byModel('Session').payload as { uid: string }).uid });
    expect(interaction.returnTo).toBe(byModel('Interaction').payload.returnTo);
    // The references are stand-ins now, which find the same entries (device_resume, a resumed pushed request).
    const device = await backend().adapter('DeviceCode').find(String(interaction.deviceCode));
    expect(device).toMatchObject({ clientId: 'cli', deviceInfo: { ua: 'curl' } });
    const pushed = await backend().adapter('PushedAuthorizationRequest').find(String(interaction.parJti));
    expect(pushed).toMatchObject({ request: byModel('PushedAuthorizationRequest').payload.request });
    const requestUri = String((interaction.params as { request_uri: string }).request_uri);
    expect(requestUri.startsWith(PUSHED)).toBe(true);
    expect(await backend().adapter('PushedAuthorizationRequest').find(requestUri.slice(PUSHED.length))).toMatchObject({
      request: pushed!.request,
    });
    // Saved again as oidc-provider does after a step, the interaction still leads to them.
    await backend()
      .adapter('Interaction')
      .upsert(byModel('Interaction').id, { ...interaction, result: { login: { accountId: 'alice' } } }, 600);
    const again = (await backend().adapter('Interaction').find(byModel('Interaction').id))!;
    expect(await backend().adapter('DeviceCode').find(String(again.deviceCode))).toMatchObject({ clientId: 'cli' });
    expect(again).toMatchObject({ returnTo: byModel('Interaction').payload.returnTo, result: { login: { accountId: 'alice' } } });
  });

  it('accepts nothing read from a dump as an id or a user code, nor a forged stand-in (J2)', async () => {
    const saved = await saveAll(backend());
    const ours = saved.map(({ model, id }) => digestOf(model, id));
    // Every string an attacker could lift from what was stored for these entries: keys, columns, index keys, fields.
    const lifted = new Set(
      (await backend().dump())
        .filter((entry) => ours.some((key) => entry.text.includes(key)))
        .flatMap((entry) => entry.text.match(/[A-Za-z0-9_~.-]{20,}/g) ?? []),
    );
    expect(lifted.size).toBeGreaterThan(saved.length);
    for (const { model, id } of saved) {
      const adapter = backend().adapter(model);
      const found = await Promise.all([...lifted].map((value) => adapter.find(value)));
      expect({ model, found: found.filter(Boolean) }).toEqual({ model, found: [] });
      const stored = digestOf(model, id);
      expect({ model, forged: await adapter.find(`~${stored}.${'A'.repeat(22)}`) }).toEqual({ model, forged: undefined });
      await expect(adapter.consume(stored)).rejects.toThrow();
      await adapter.destroy(stored);
      expect({ model, stillThere: Boolean(await adapter.find(id)) }).toEqual({ model, stillThere: true });
    }
    const devices = backend().adapter('DeviceCode');
    for (const value of lifted) expect(await devices.findByUserCode(value)).toBeUndefined();
    // A stand-in made for one model does not open another model's entry.
    const session = saved.find((s) => s.model === 'Session')!;
    const found = await backend()
      .adapter('Session')
      .findByUid((session.payload as { uid: string }).uid);
    expect(await backend().adapter('AccessToken').find(found!.jti!)).toBeUndefined();
  });
}

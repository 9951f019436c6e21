/**
 * Proves the software authenticator against the real @simplewebauthn/server verifiers: honest
 * ceremonies verify, and every tamper knob makes verification fail.
 */
import { describe, it, expect } from '@jest/globals';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type WebAuthnCredential,
} from '@simplewebauthn/server';
import { SoftwareAuthenticator, type Tamper } from './authenticator.js';

const origin = 'https://auth.example.test';
const rpID = 'example.test';

async function registrationOptions() {
  return generateRegistrationOptions({
    rpName: 'oauth3 test',
    rpID,
    userName: 'alice',
    authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
  });
}

async function verifyRegistration(auth: SoftwareAuthenticator, tamper?: Tamper) {
  const options = await registrationOptions();
  const response = auth.register(options, tamper);
  const result = await verifyRegistrationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: origin,
    expectedRPID: rpID,
    requireUserVerification: true,
  });
  return { options, response, result };
}

/** Register a passkey and return the credential as the server would store it. */
async function enrolled() {
  const auth = new SoftwareAuthenticator({ origin, rpId: rpID });
  const { options, result } = await verifyRegistration(auth);
  if (!result.verified) throw new Error('honest registration failed');
  return { auth, userId: options.user.id, credential: result.registrationInfo.credential };
}

async function verifyAssertion(
  auth: SoftwareAuthenticator,
  credential: WebAuthnCredential,
  tamper?: Tamper & { credentialId?: string },
  allowCredentials?: { id: string }[],
) {
  const options = await generateAuthenticationOptions({ rpID, userVerification: 'required', allowCredentials });
  const response = auth.authenticate(options, tamper);
  const result = await verifyAuthenticationResponse({
    response,
    expectedChallenge: options.challenge,
    expectedOrigin: origin,
    expectedRPID: rpID,
    credential,
    requireUserVerification: true,
  });
  return { response, result };
}

/** Why verification failed: the verifier's error message, 'verified: false', or '' if it passed. */
async function failure(attempt: Promise<{ result: { verified: boolean } }>): Promise<string> {
  try {
    return (await attempt).result.verified ? '' : 'verified: false';
  } catch (err) {
    return (err as Error).message;
  }
}

// [tamper name, tamper, what the verifier's failure must mention]
const ceremonyTampers: [string, Tamper, RegExp][] = [
  ['origin', { origin: 'https://evil.example' }, /origin "https:\/\/evil\.example"/],
  ['type', { type: 'webauthn.bogus' }, /type.*webauthn\.bogus/],
  ['challenge', { challenge: Buffer.from('not the challenge').toString('base64url') }, /challenge/],
  ['rpId', { rpId: 'evil.example' }, /RP ID hash/],
  ['userPresent false', { userPresent: false }, /not present/],
  ['userVerified false', { userVerified: false }, /could not be verified/],
];

describe('SoftwareAuthenticator registration', () => {
  it('produces a response that verifies, with the expected shape', async () => {
    const auth = new SoftwareAuthenticator({ origin, rpId: rpID });
    const { options, response, result } = await verifyRegistration(auth);

    expect(result.verified).toBe(true);
    const info = result.registrationInfo!;
    expect(info.fmt).toBe('none');
    expect(info.credential.id).toBe(response.id);
    expect(info.credential.counter).toBe(0);
    expect(info.userVerified).toBe(true);
    expect(info.credentialDeviceType).toBe('multiDevice');
    expect(info.credentialBackedUp).toBe(true);
    expect(response).toMatchObject({
      type: 'public-key',
      rawId: response.id,
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: { transports: ['internal', 'hybrid'], publicKeyAlgorithm: -7 },
    });
    expect(typeof response.response.publicKey).toBe('string');
    expect(typeof response.response.authenticatorData).toBe('string');
    expect(auth.credentials).toEqual([{ id: response.id, userHandle: options.user.id, counter: 0 }]);
  });

  it('refuses to register again when excludeCredentials names a credential it holds', async () => {
    const { auth, credential } = await enrolled();
    const options = await generateRegistrationOptions({
      rpName: 'oauth3 test',
      rpID,
      userName: 'alice',
      excludeCredentials: [{ id: credential.id }],
    });
    expect(() => auth.register(options)).toThrow(/InvalidStateError/);
  });

  it.each(ceremonyTampers)('fails verification when %s is tampered', async (_name, tamper, reason) => {
    const auth = new SoftwareAuthenticator({ origin, rpId: rpID });
    expect(await failure(verifyRegistration(auth, tamper))).toMatch(reason);
  });
});

describe('SoftwareAuthenticator authentication', () => {
  it('produces an assertion that verifies with the stored public key and bumps the counter', async () => {
    const { auth, userId, credential } = await enrolled();

    const first = await verifyAssertion(auth, credential);
    expect(first.result.verified).toBe(true);
    expect(first.result.authenticationInfo.newCounter).toBe(1);
    expect(first.result.authenticationInfo.userVerified).toBe(true);
    expect(first.response.response.userHandle).toBe(userId); // discoverable: identifies the user

    const second = await verifyAssertion(auth, { ...credential, counter: 1 });
    expect(second.result.verified).toBe(true);
    expect(second.result.authenticationInfo.newCounter).toBe(2);
    expect(auth.credentials[0]?.counter).toBe(2);
  });

  it('picks the credential from allowCredentials, or credentialId, or the most recent one', async () => {
    const { auth, credential: first } = await enrolled();
    const { result } = await verifyRegistration(auth);
    const second = result.registrationInfo!.credential;

    expect((await verifyAssertion(auth, second)).response.id).toBe(second.id); // most recent
    const allowed = await verifyAssertion(auth, first, {}, [{ id: first.id }]);
    expect(allowed.response.id).toBe(first.id);
    expect(allowed.result.verified).toBe(true);
    expect((await verifyAssertion(auth, { ...first, counter: 1 }, { credentialId: first.id })).result.verified).toBe(true);
  });

  it('overrides or omits the userHandle on request', async () => {
    const { auth, credential } = await enrolled();
    const options = await generateAuthenticationOptions({ rpID });
    expect(auth.authenticate(options, { userHandle: 'b3RoZXI' }).response.userHandle).toBe('b3RoZXI');
    expect('userHandle' in auth.authenticate(options, { userHandle: null }).response).toBe(false);
    expect(credential.id).toBe(auth.credentials[0]?.id);
  });

  it('throws NotAllowedError once the passkey is removed from the device', async () => {
    const { auth, credential } = await enrolled();
    auth.remove(credential.id);
    expect(auth.credentials).toEqual([]);
    const options = await generateAuthenticationOptions({ rpID });
    expect(() => auth.authenticate(options)).toThrow(/NotAllowedError/);
  });

  const assertionTampers: [string, Tamper, RegExp][] = [
    ...ceremonyTampers,
    ['badSignature', { badSignature: true }, /^verified: false$/],
    ['counter equal to the stored one', { counter: 1 }, /counter value 1 was lower/],
    ['counter below the stored one', { counter: 0 }, /counter value 0 was lower/],
  ];

  it.each(assertionTampers)('fails verification when %s is tampered', async (_name, tamper, reason) => {
    const { auth, credential } = await enrolled();
    // One honest sign-in first, so the server has stored counter 1 and the counter tamper is meaningful.
    const honest = await verifyAssertion(auth, credential);
    expect(honest.result.verified).toBe(true);
    const stored = { ...credential, counter: honest.result.authenticationInfo.newCounter };

    expect(await failure(verifyAssertion(auth, stored, tamper))).toMatch(reason);
    // The same authenticator still produces a good assertion afterwards (the failure was the tamper).
    expect((await verifyAssertion(auth, stored)).result.verified).toBe(true);
  });
});

import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { AppError } from '../errors.js';
import { lazy } from '../lazy.js';
import type { Config } from '../config.js';
import { AccountStore, type Passkey } from '../accounts/accounts.js';
import type { ChallengeStore } from './challenges.js';

/** @simplewebauthn/server (with its ASN.1 and COSE stacks, some 300 modules), loaded at the first ceremony. */
const webauthn = lazy(() => import('@simplewebauthn/server'));

export const passkeyFailed = (description: string, cause?: unknown) => new AppError('passkey_failed', 400, description, { cause });

export interface RegisteredPasskey {
  accountId: string;
  passkey: Omit<Passkey, 'accountId' | 'createdAt' | 'lastUsedAt'>;
}

/**
 * The two WebAuthn ceremonies, with the relying party's policy: discoverable credentials (usernameless sign-in),
 * user verification required, challenges from the ChallengeStore. Verification is @simplewebauthn/server's; this file
 * decides what to expect.
 */
export class PasskeyCeremonies {
  constructor(
    private readonly config: Pick<Config, 'RP_ID' | 'RP_NAME' | 'ORIGIN'>,
    private readonly challenges: ChallengeStore,
    private readonly accounts: AccountStore,
  ) {}

  /**
   * Options for a new passkey; `accountId` extends an existing account, else a new account id is reserved. `name` is
   * what the owner goes by (the display name typed at sign-up, or the account's, src/accounts/display-name.ts): the
   * passkey manager shows it beside the passkey. Without one the passkey is "<RP_NAME> account".
   */
  async registrationOptions(
    binding: string,
    { accountId = AccountStore.newAccountId(), exclude = [], name }: { accountId?: string; exclude?: string[]; name?: string | null } = {},
  ): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const options = await (
      await webauthn()
    ).generateRegistrationOptions({
      rpName: this.config.RP_NAME,
      rpID: this.config.RP_ID,
      userID: Buffer.from(accountId, 'base64url'),
      userName: `oauth3-${accountId.slice(0, 8)}`,
      userDisplayName: name || `${this.config.RP_NAME} account`,
      attestationType: 'none',
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      excludeCredentials: exclude.map((id) => ({ id })),
      supportedAlgorithmIDs: [-7, -257],
    });
    await this.challenges.issue(binding, 'register', options.challenge, accountId);
    return options;
  }

  async verifyRegistration(binding: string, response: RegistrationResponseJSON): Promise<RegisteredPasskey> {
    // The challenge is spent before anything else is looked at, so a failed attempt cannot be retried (E2).
    const issued = await this.challenges.takeAll(binding, 'register');
    if (!issued.length) throw passkeyFailed('This passkey request has expired. Start again.');
    let verification;
    try {
      verification = await (
        await webauthn()
      ).verifyRegistrationResponse({
        response,
        expectedChallenge: (c) => issued.some((i) => i.challenge === c),
        expectedOrigin: this.config.ORIGIN,
        expectedRPID: this.config.RP_ID,
        expectedType: 'webauthn.create',
        requireUserVerification: true,
        supportedAlgorithmIDs: [-7, -257],
      });
    } catch (cause) {
      throw passkeyFailed('The passkey could not be verified.', cause);
    }
    if (!verification.verified || !verification.registrationInfo) throw passkeyFailed('The passkey could not be verified.');
    const { credential, credentialDeviceType, credentialBackedUp } = verification.registrationInfo;
    const clientData = JSON.parse(Buffer.from(response.response.clientDataJSON, 'base64url').toString('utf8')) as { challenge: string };
    const subject = issued.find((i) => i.challenge === clientData.challenge)?.subject;
    if (!subject) throw passkeyFailed('The passkey could not be verified.');
    return {
      accountId: subject,
      passkey: {
        id: credential.id,
        publicKey: credential.publicKey,
        counter: credential.counter,
        transports: credential.transports ?? [],
        deviceType: credentialDeviceType,
        backedUp: credentialBackedUp,
        name: credentialBackedUp ? 'Synced passkey' : 'Passkey',
      },
    };
  }

  async authenticationOptions(binding: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
    // No allowCredentials: the authenticator offers its discoverable credentials (usernameless sign-in).
    const options = await (await webauthn()).generateAuthenticationOptions({ rpID: this.config.RP_ID, userVerification: 'required' });
    await this.challenges.issue(binding, 'login', options.challenge);
    return options;
  }

  /** Returns the signed-in passkey. Counter regressions are reported as `passkey_counter` (a security event). */
  async verifyAuthentication(binding: string, response: AuthenticationResponseJSON): Promise<Passkey> {
    const issued = await this.challenges.takeAll(binding, 'login');
    if (!issued.length) throw passkeyFailed('This sign-in request has expired. Start again.');
    // Unknown or deleted credential (E6).
    const passkey = await this.accounts.findPasskey(response.id);
    if (!passkey) throw passkeyFailed('This passkey is not registered here.');
    // The user handle, when given, must name the account the credential belongs to (WebAuthn §7.2 step 6).
    if (response.response.userHandle !== undefined && response.response.userHandle !== passkey.accountId) {
      throw passkeyFailed('This passkey does not belong to that account.');
    }
    let verification;
    try {
      verification = await (
        await webauthn()
      ).verifyAuthenticationResponse({
        response,
        expectedChallenge: (c) => issued.some((i) => i.challenge === c),
        expectedOrigin: this.config.ORIGIN,
        expectedRPID: this.config.RP_ID,
        expectedType: 'webauthn.get',
        requireUserVerification: true,
        // Counter 0 turns off the library's counter check, which runs before the signature is verified: a forged
        // assertion with a stale counter would be reported as a cloned passkey. The counter is judged below, by
        // recordUse, only once the signature holds (WebAuthn §7.2 steps 21-22).
        credential: { id: passkey.id, publicKey: passkey.publicKey as Uint8Array<ArrayBuffer>, counter: 0, transports: passkey.transports },
      });
    } catch (cause) {
      throw passkeyFailed('The passkey could not be verified.', cause);
    }
    // `verified: false` is a failure, never a pass (E4).
    if (!verification.verified) throw passkeyFailed('The passkey could not be verified.');
    const { newCounter } = verification.authenticationInfo;
    if (!(await this.accounts.recordUse(passkey.id, newCounter))) {
      throw new AppError('passkey_counter', 400, 'The passkey could not be verified.');
    }
    return { ...passkey, counter: newCounter };
  }
}

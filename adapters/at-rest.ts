import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type { MasterKeyRing } from '../src/keys/sealing.js';
import { handleOf, openHandle, storageKey } from '../src/db/at-rest-keys.js';

/**
 * No usable credential at rest (docs/threat-model.md J2). oidc-provider keys each model by the value it hands out (a
 * token, a code, a session cookie, an interaction id), and some payloads repeat that value or another model's. What
 * the adapters store instead:
 *
 * - the key of an entry is the SHA-256 digest of its id, in a domain of its own per model (`digestOf`); a presented
 *   value is found by hashing it once. The values are 126 to 256 random bits, so a plain digest cannot be reversed;
 * - the payload never holds `jti` (it equals the id), and a field naming another model's entry (an interaction's
 *   device code or pushed request) holds that entry's key, never its value;
 * - user codes, about 34 bits, are digested under a key derived from the master key (see `UserCodes`).
 *
 * Reading restores what oidc-provider saved: `jti` is the id the caller asked with. A caller that found an entry by
 * something else (a session by its uid, a device code by its user code) never had the id, so it gets a handle: a
 * stand-in that this process alone made (`handleOf`), which finds, saves and destroys that entry again. A digest
 * taken from a dump is never a handle, and presented as a token, cookie or code it is hashed like any value and
 * finds nothing.
 *
 * Grants and clients stay under their own ids: nobody presents a grant id as a credential (oidc-provider reads it
 * only from its own stored tokens, sessions and interactions, and the console checks the owner before it acts on
 * one), and our SQL joins tokens, agent tokens, agent services, policies and the access log to grants by that id.
 * Clients are public ids whose secrets are already stored as digests (adapters/clients.ts).
 *
 * Kept as they are, read in oidc-provider 9.13's models: a session's `uid` and each client's `sid` (not credentials:
 * the uid only finds the session for checks and the console, a sid only names it in ID tokens), its `state.secret`
 * (the device and logout forms' anti-CSRF value, worthless without the session cookie, and cleared once used), an
 * interaction's `lastSubmission` and `result` (what our pages decided: account, passkey, grant id), and the
 * authorization parameters in `params` (what the client sent; an `id_token_hint` there is an ID token, which oauth3
 * accepts nowhere as a credential). Every other model's payload names no handed-out value but its own `jti`.
 */

/** Models kept under their own ids, payloads as oidc-provider gave them. */
const PLAIN = new Set(['Client', 'Grant']);

// --- User codes.

/**
 * User codes (RFC 8628 §6.1) have about 34 bits: their plain digests would all be reversed in minutes. What one would
 * give an attacker: while its device request is pending (DEVICE_CODE_TTL, 10 minutes by default, once), approving
 * that request with the attacker's own account, so the owner's device acts on the attacker's accounts and shows them
 * what it posts, or denying it. Never tokens, never anyone else's account, but not nothing, so user codes are
 * digested with HMAC-SHA256 under a key derived from the master key, which a database or Redis dump does not hold.
 * Codes are written under the current key and looked up under every key of the ring, so a master-key rotation keeps
 * pending codes.
 */
export class UserCodes {
  private readonly keys: KeyObject[];

  constructor(keys: readonly Buffer[]) {
    this.keys = keys.map((key) => createSecretKey(key));
  }

  static fromMasterKeys(ring: MasterKeyRing): UserCodes {
    const keys = [ring.current, ...[...ring.byId.values()].filter((k) => k.id !== ring.current.id)];
    return new UserCodes(keys.map((k) => createHmac('sha256', k.key).update('oauth3 at rest: user codes').digest()));
  }

  /** The digest a user code is stored under. */
  digest(userCode: string): string {
    const [key] = this.keys;
    if (!key) throw new Error('user codes are digested under a key from the master key: none was given to the adapter');
    return UserCodes.mac(key, userCode);
  }

  /** Every digest a stored user code may have (one per master key). */
  lookups(userCode: string): string[] {
    return this.keys.map((key) => UserCodes.mac(key, userCode));
  }

  private static mac(key: KeyObject, userCode: string): string {
    return createHmac('sha256', key).update(userCode).digest('base64url');
  }
}

// --- What is stored for a model's payload, and what is read back.

const USER_CODE = 'DeviceCode.userCode';
/** oidc-provider's prefix of a pushed request's request_uri (RFC 9126 §2.2). */
const PUSHED_REQUEST_URN = 'urn:ietf:params:oauth:request_uri:';
/** Stands for the interaction's own id in its stored `returnTo` (oidc-provider's resume URL ends with it). */
const OWN_ID = '{uid}';

type Payload = AdapterPayload & Record<string, unknown>;

/** One model's translation between what oidc-provider saves and reads and what the adapters store. */
export class AtRest {
  /** Stored under its own id, as given. */
  readonly plain: boolean;

  constructor(
    readonly model: string,
    private readonly userCodes?: UserCodes,
  ) {
    this.plain = PLAIN.has(model);
  }

  /** The storage key of an id oidc-provider gave (a presented value, one it made, or a handle). */
  key(id: string): string {
    return this.plain ? id : storageKey(this.model, id);
  }

  /** The payload to store for `id`: no `jti`, no value handed to a client, references as keys. */
  stored(id: string, payload: AdapterPayload): AdapterPayload {
    if (this.plain) return payload;
    // A copy whose jti is undefined: JSON, which both stores write, leaves it out (cheaper than a copy without it).
    const stored: Payload = { ...payload, jti: undefined };
    if (this.model === 'DeviceCode' && typeof stored.userCode === 'string') {
      stored.userCode = openHandle(USER_CODE, stored.userCode) ?? this.requireUserCodes().digest(stored.userCode);
    }
    if (this.model === 'Interaction') storeInteraction(id, stored);
    return stored;
  }

  /**
   * The payload oidc-provider gets back. `id` is what the caller asked with, or a handle when it asked by something
   * else; `userCode` the user code it presented, if it did.
   */
  restored(stored: AdapterPayload, id: string, userCode?: string): AdapterPayload {
    if (this.plain) return stored;
    const payload: Payload = { ...stored, jti: id };
    if (this.model === 'DeviceCode' && typeof payload.userCode === 'string') {
      payload.userCode = userCode ?? handleOf(USER_CODE, payload.userCode);
    }
    if (this.model === 'Interaction') restoreInteraction(id, payload);
    return payload;
  }

  /** The user-code digests a lookup tries. */
  userCodeLookups(userCode: string): string[] {
    return this.requireUserCodes().lookups(userCode);
  }

  private requireUserCodes(): UserCodes {
    if (!this.userCodes) throw new Error(`the ${this.model} adapter has no user-code key (AdapterDeps.userCodes)`);
    return this.userCodes;
  }
}

/**
 * An interaction repeats its id in `returnTo`, the session's id in `session.cookie` (which oidc-provider never reads
 * back), and names the device code and pushed request it resumes (`deviceCode`, `parJti`, `params.request_uri`),
 * which it finds again by those values.
 */
function storeInteraction(id: string, stored: Payload): void {
  if (typeof stored.returnTo === 'string') stored.returnTo = stored.returnTo.replaceAll(id, OWN_ID);
  if (isRecord(stored.session) && 'cookie' in stored.session) {
    const { cookie: _cookie, ...session } = stored.session;
    stored.session = session;
  }
  if (typeof stored.deviceCode === 'string') stored.deviceCode = storageKey('DeviceCode', stored.deviceCode);
  if (typeof stored.parJti === 'string') stored.parJti = storageKey('PushedAuthorizationRequest', stored.parJti);
  const requestUri = isRecord(stored.params) ? stored.params.request_uri : undefined;
  if (typeof requestUri === 'string' && requestUri.startsWith(PUSHED_REQUEST_URN)) {
    const pushed = storageKey('PushedAuthorizationRequest', requestUri.slice(PUSHED_REQUEST_URN.length));
    stored.params = { ...(stored.params as Record<string, unknown>), request_uri: `${PUSHED_REQUEST_URN}${pushed}` };
  }
}

function restoreInteraction(id: string, payload: Payload): void {
  if (typeof payload.returnTo === 'string') payload.returnTo = payload.returnTo.replaceAll(OWN_ID, id);
  if (typeof payload.deviceCode === 'string') payload.deviceCode = handleOf('DeviceCode', payload.deviceCode);
  if (typeof payload.parJti === 'string') payload.parJti = handleOf('PushedAuthorizationRequest', payload.parJti);
  const requestUri = isRecord(payload.params) ? payload.params.request_uri : undefined;
  if (typeof requestUri === 'string' && requestUri.startsWith(PUSHED_REQUEST_URN)) {
    const pushed = handleOf('PushedAuthorizationRequest', requestUri.slice(PUSHED_REQUEST_URN.length));
    payload.params = { ...(payload.params as Record<string, unknown>), request_uri: `${PUSHED_REQUEST_URN}${pushed}` };
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

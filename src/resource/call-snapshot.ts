import type { ApiCaller } from '../plugins/plugin.js';
import type { Connection, ConnectionRow, ConnectionStore } from '../connections/store.js';
import { PolicyStore, type Policy } from '../policies/policy.js';

/**
 * What the token's own query read for this call besides the token (src/resource/tokens.ts): the grant's policy and
 * the owner's connections, as stored when the call arrived. A resource API call then costs one read round trip
 * instead of three. It lives only as long as the call's ApiCaller: nothing is kept between calls, so a policy
 * changed or an account disconnected is seen by the very next call.
 */
export interface CallSnapshot {
  policy: unknown;
  connections: ConnectionRow[];
}

const snapshots = new WeakMap<ApiCaller, CallSnapshot>();

export function attachSnapshot(caller: ApiCaller, snapshot: CallSnapshot): void {
  snapshots.set(caller, snapshot);
}

/**
 * The grant's policy: from the call's snapshot when there is one, else read now. For an exchanged token, its root
 * grant's (the snapshot read that one too).
 */
export function policyFor(caller: ApiCaller, policies: PolicyStore): Promise<Policy> {
  const snapshot = snapshots.get(caller);
  return snapshot ? Promise.resolve(PolicyStore.fromStored(snapshot.policy)) : policies.get(policyGrantOf(caller));
}

/** The grant whose policy and daily limit a call counts against: an exchanged token's root grant, else its own. */
export function policyGrantOf(caller: ApiCaller): string {
  return caller.policyGrantId ?? caller.grantId;
}

/** The owner's connection to `provider`: from the call's snapshot when there is one, else read now. */
export function connectionFor(caller: ApiCaller, provider: string, connections: ConnectionStore): Promise<Connection | undefined> {
  const snapshot = snapshots.get(caller);
  if (!snapshot) return connections.find(caller.accountId, provider);
  const row = snapshot.connections.find((c) => c.provider === provider);
  return Promise.resolve(row && connections.adopt(row));
}

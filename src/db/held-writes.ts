/**
 * Writes a request's answer waits for, instead of the request waiting for each in turn. At the token endpoint
 * oidc-provider stores a refresh token, then an access token, then signs the ID token, each step awaited before the
 * next: three round trips in a row. A request that holds its writes (`holdWrites`, set by the token endpoint's guard
 * before oidc-provider runs) has the adapter start such a write and go on, so the two tokens share one statement and
 * the signature is made while they are stored; the guard then waits for every held write before the answer leaves
 * (`settleHeldWrites`). A token is never handed out before it is stored: a failed write turns the answer into a
 * server error, as a write awaited in place would have.
 *
 * Only writes nothing in the same request reads back are held (adapters/postgres.ts says which), and only in a
 * request whose guard will wait for them: anywhere else a write is awaited where it is made.
 */
interface Outcome {
  error?: unknown;
}

const held = new WeakMap<object, Promise<Outcome>[]>();
/** What runs once a request's held writes are all stored (`whenStored`). */
const afterwards = new WeakMap<object, (() => void)[]>();

/** From now on the writes `request` holds are waited for by its guard, not by the code that makes them. */
export function holdWrites(request: object): void {
  held.set(request, []);
}

/**
 * Hands `write` to `request`'s guard when the request holds its writes: true, and the caller goes on without
 * waiting; false, and the caller awaits it itself.
 */
export function heldWrite(request: object | undefined, write: Promise<unknown>): boolean {
  const writes = request && held.get(request);
  if (!writes) return false;
  // Observed at once, so a failure waits for the guard instead of being an unhandled rejection.
  writes.push(
    write.then(
      () => ({}),
      (error: unknown) => ({ error }),
    ),
  );
  return true;
}

/**
 * Runs `then` once every write `request` holds is stored: at once when it holds none, never when one of them failed.
 * What a request reports as done (the owner's access log of a token issued) is then never said of a token that was
 * not stored.
 */
export function whenStored(request: object, then: () => void): void {
  if (!held.has(request)) return then();
  const queued = afterwards.get(request);
  if (queued) queued.push(then);
  else afterwards.set(request, [then]);
}

/**
 * Waits for every write `request` held, then stops holding and runs what waited for them (`whenStored`); rejects with
 * the first failure, and runs nothing. Writes made after this are awaited where they are made.
 */
export async function settleHeldWrites(request: object): Promise<void> {
  const writes = held.get(request) ?? [];
  const then = afterwards.get(request) ?? [];
  held.delete(request);
  afterwards.delete(request);
  const failed = writes.length > 0 ? (await Promise.all(writes)).find((outcome) => 'error' in outcome) : undefined;
  if (failed) throw failed.error;
  for (const run of then) run();
}

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
 *
 * A refresh rotates its token: the token presented is consumed, then its successor and an access token are written.
 * Such a request may defer the consume (`deferConsume`): its later writes are then kept with it (`heldRow`) and sent
 * with it as one unit when the request is settled, which the storage runs as one statement that stores the rows only
 * if the consume succeeds. The old token is spent and the new ones stored together, or neither: a refresh that fails
 * to store its tokens leaves the token presented usable, and of two requests racing with one token only the one
 * whose consume succeeded stores anything; the other's answer becomes the refusal its consume would have given.
 */
interface Outcome {
  error?: unknown;
}

const held = new WeakMap<object, Promise<Outcome>[]>();
/** A request's deferred consume and the rows kept with it, with what sends them together (`deferConsume`). */
interface Deferred<R> {
  consumes: string;
  rows: R[];
  send(consumes: string, rows: R[]): Promise<unknown>;
}
const deferred = new WeakMap<object, Deferred<unknown>>();
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
  writes.push(observed(write));
  return true;
}

const observed = (write: Promise<unknown>): Promise<Outcome> =>
  write.then(
    () => ({}),
    (error: unknown) => ({ error }),
  );

/**
 * Defers the consume of the entry stored under `consumes` to the settling of `request`, where `send` runs it with
 * the rows `heldRow` kept after it (and rejects if the entry was already consumed, storing nothing). True when
 * deferred; false when `request` does not hold its writes, or already deferred a consume: the caller consumes now.
 */
export function deferConsume<R>(
  request: object | undefined,
  consumes: string,
  send: (consumes: string, rows: R[]) => Promise<unknown>,
): boolean {
  if (!request || !held.has(request) || deferred.has(request)) return false;
  deferred.set(request, { consumes, rows: [], send });
  return true;
}

/**
 * Keeps `row` for the statement of `request`'s deferred consume: true, and the caller goes on without writing it;
 * false when the request deferred no consume (the caller writes it, held or not).
 */
export function heldRow(request: object | undefined, row: unknown): boolean {
  const consume = request && deferred.get(request);
  if (!consume) return false;
  consume.rows.push(row);
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
  const consume = deferred.get(request);
  held.delete(request);
  afterwards.delete(request);
  deferred.delete(request);
  // Sent even when the request failed after deferring it: a token presented and consumed stays spent.
  if (consume) writes.push(observed(consume.send(consume.consumes, consume.rows)));
  const failed = writes.length > 0 ? (await Promise.all(writes)).find((outcome) => 'error' in outcome) : undefined;
  if (failed) throw failed.error;
  for (const run of then) run();
}

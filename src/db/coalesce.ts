/**
 * Coalesces the calls made in one turn of the event loop into one batch, run when that turn's I/O callbacks are done
 * (setImmediate). Under load the token endpoint's concurrent client lookups and token writes then cost one round trip
 * and one commit per batch instead of one each: on a small machine, round trips to Postgres, not SQL, were most of
 * the cost of a token.
 *
 * This is not a cache. A batch is sent only after every call in it was made, so each caller reads the database as it
 * was at its call or later (a client removed before a request arrived is not found), and a writer's promise settles
 * only once its own row is committed. A failed batch fails every call in it (storage failures still fail closed),
 * except when `isolate` says the error came from the batch rather than from the database (one call's data, or a
 * conflict with another batch over the same rows): then each call is retried alone, so a request cannot make its
 * neighbours fail by sending a value the database refuses.
 */
export interface CoalesceOptions {
  maxBatch?: number;
  isolate?: (error: unknown) => boolean;
}

interface Call<K, V> {
  key: K;
  resolve(value: V): void;
  reject(error: unknown): void;
}

export function coalesce<K, V>(
  run: (keys: K[]) => Promise<V[]>,
  { maxBatch = 100, isolate }: CoalesceOptions = {},
): (key: K) => Promise<V> {
  let open: Call<K, V>[] | undefined;

  const send = async (batch: Call<K, V>[]): Promise<void> => {
    try {
      const values = await run(batch.map((call) => call.key));
      batch.forEach((call, i) => call.resolve(values[i] as V));
    } catch (error) {
      if (batch.length > 1 && isolate?.(error)) {
        await Promise.all(batch.map((call) => send([call])));
        return;
      }
      for (const call of batch) call.reject(error);
    }
  };

  return (key) =>
    new Promise<V>((resolve, reject) => {
      if (!open || open.length >= maxBatch) {
        const batch: Call<K, V>[] = [];
        open = batch;
        setImmediate(() => {
          if (open === batch) open = undefined;
          void send(batch);
        });
      }
      open.push({ key, resolve, reject });
    });
}

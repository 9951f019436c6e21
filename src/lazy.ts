/**
 * A dependency loaded on its first use instead of at start. Most of what `npm start` waits for is Node reading
 * modules (about 2,000 files), and a good half belong to features a given instance may never use, or not in its first
 * second: the MCP SDK with its JSON Schema validator, passkey ceremonies, X's client, the Telegram client, the HTTP
 * client for upstream calls. The first caller pays the load (tens to a couple of hundred milliseconds, once); later
 * ones get the same promise. A load that fails (a file missing from an install) is tried again on the next use
 * rather than remembered.
 */
export function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () =>
    (loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    }));
}

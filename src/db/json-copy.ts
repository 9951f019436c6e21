/**
 * A deep copy of a JSON value (what a jsonb column or JSON.parse gives: objects, arrays, strings, numbers, booleans,
 * null), for a caller that may change what it was handed while the original is kept or shared. It shares no object or
 * array with the original. About ten times cheaper than structuredClone, which serialises the value and reads it back
 * (1.8 µs against 0.17 for a connection's metadata on Node 24), and every resource API call makes one.
 */
export function copyJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const item = copyJson((value as Record<string, unknown>)[key]);
    // JSON.parse makes "__proto__" an own property; assigned, it would set the copy's prototype instead.
    if (key === '__proto__') Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
    else copy[key] = item;
  }
  return copy as T;
}

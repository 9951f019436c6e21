/**
 * A database that cannot be reached or refuses us, in one sentence for the person at the terminal: where oauth3 tried
 * (host and port, never the password), what went wrong, and what to check. Anything else stays an error with its
 * stack, as a bug should.
 */

const CONNECTION_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  EPIPE: 'connection closed',
};

/** The system error code of a failed connection, also when Node tried several addresses (an AggregateError). */
function codeOf(error: unknown): string | undefined {
  const e = error as { code?: unknown; errors?: unknown[] } | null;
  if (typeof e?.code === 'string') return e.code;
  for (const inner of e?.errors ?? []) {
    const code = codeOf(inner);
    if (code) return code;
  }
  return undefined;
}

/** The sentence for `error`, or undefined when it is not about reaching the database. */
export function databaseProblem(error: unknown, databaseUrl: string | undefined, timeoutMs: number): string | undefined {
  if (!databaseUrl) return undefined;
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return undefined;
  }
  const at = `${url.hostname}:${url.port || 5432}`;
  const database = decodeURIComponent(url.pathname.slice(1)) || decodeURIComponent(url.username) || 'postgres';
  const code = codeOf(error);
  const message = String((error as Error | null)?.message ?? '');
  if (code && CONNECTION_CODES[code])
    return `Cannot reach the database at ${at} (${CONNECTION_CODES[code]}): is Postgres running? Check DATABASE_URL.`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `Cannot reach the database at ${at} (no such host): check the host name in DATABASE_URL.`;
  if (/timeout|terminated unexpectedly/i.test(message) && !code)
    return `Cannot reach the database at ${at} (no answer within ${timeoutMs} ms): is Postgres running, and is this its address? Check DATABASE_URL (or DATABASE_TIMEOUT_MS).`;
  if (code === '28P01' || code === '28000')
    return `The database at ${at} refused the user '${decodeURIComponent(url.username) || 'postgres'}' (${message}): check the user and password in DATABASE_URL.`;
  if (code === '3D000')
    return `The database at ${at} has no database '${database}': create it (createdb ${database}) or check DATABASE_URL.`;
  return undefined;
}

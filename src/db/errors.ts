/** The SQLSTATE of a database error, if it has one (pg and PGlite both set `code`). */
const sqlState = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
};

/**
 * SQLSTATE classes 21-23 (cardinality, data, integrity): the database refused a value, such as a NUL character in
 * text or JSON, which one request can send. Connection failures and timeouts are not among them.
 */
export const refusedData = (error: unknown): boolean => /^2[123]/.test(sqlState(error) ?? '');

/**
 * A statement Postgres failed to settle a conflict with another one over the same rows: a deadlock (40P01) or a
 * serialization failure (40001). Nothing of it was applied, so it can be tried again.
 */
export const conflicted = (error: unknown): boolean => ['40P01', '40001'].includes(sqlState(error) ?? '');

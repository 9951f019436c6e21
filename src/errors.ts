import { errors as oidcErrors } from 'oidc-provider';
import { ZodError } from 'zod';

/**
 * Errors are values with a stable `code`, an HTTP status and an `expose` flag (the shape of oidc-provider's
 * OIDCProviderError): clients see `{ error, error_description }` (and `problems`, one per field, where an input had
 * several); causes stay in the logs.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly description: string = code,
    options?: { cause?: unknown; expose?: boolean; problems?: readonly Problem[] },
  ) {
    super(description, { cause: options?.cause });
    this.name = 'AppError';
    this.expose = options?.expose ?? status < 500;
    this.problems = options?.problems;
  }
  readonly expose: boolean;
  /** Every problem of a refused input, each with its field; JSON answers list them beside `error_description`. */
  readonly problems?: readonly Problem[];
}

/** One problem of a refused input: the field's name as sent (none for the input as a whole) and a sentence for people. */
export interface Problem {
  field?: string;
  description: string;
}

export const badRequest = (code: string, description?: string) => new AppError(code, 400, description);
export const forbidden = (code: string, description?: string) => new AppError(code, 403, description);
export const notFound = (code = 'not_found', description = 'not found') => new AppError(code, 404, description);

/** `assertThat(cond, 'code', 403)` instead of `if (!x) throw ...` sprinkled with strings. */
export function assertThat(condition: unknown, code: string, status = 400, description?: string): asserts condition {
  if (!condition) throw new AppError(code, status, description ?? code);
}

/** A failed zod parse at the edge: 400 `invalid_request` naming the first bad field. */
export function invalidInput(caught: ZodError): AppError {
  const issue = caught.issues[0];
  const field = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return new AppError('invalid_request', 400, `${field}${issue?.message ?? 'invalid input'}`, { cause: caught });
}

/** Storage failed: fail closed, never authorize from what a process remembers; the client may retry (503). */
export const storageUnavailable = (cause: unknown) =>
  new AppError('temporarily_unavailable', 503, 'The service is temporarily unavailable. Try again shortly.', { cause, expose: true });

/**
 * Connection-level failures of Postgres, PGlite or Redis (SQLSTATE classes 08 and 57, socket errors, timeouts), as
 * opposed to a statement the database refused: the request is answered 503, so a client retries instead of
 * reporting a bug.
 */
export function isStorageFailure(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && /^(08|57P0|53300|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE)/.test(code)) return true;
  return (
    typeof message === 'string' &&
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client was closed|PGlite is closed|Connection is closed/i.test(
      message,
    )
  );
}

/** A fetch that never got an answer: the network failed (undici's `fetch failed`) or our deadline ran out. */
function fetchFailure(error: unknown): 'timeout' | 'network' | undefined {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout';
  if (error instanceof TypeError && error.message === 'fetch failed') return 'network';
  return undefined;
}

/**
 * The one translation of whatever a request's handlers threw (our AppErrors, zod's, oidc-provider's, storage and
 * fetch failures) into the error the client sees, with the cause kept for the log line. The boundaries of the API
 * (src/resource/boundary.ts) and of the pages and JSON routes (src/http/error-boundary.ts) only render its result,
 * so the same failure has the same status everywhere: a database outage is 503 on a page as on the API.
 */
export function toAppError(caught: unknown): AppError {
  if (caught instanceof AppError) return caught;
  if (caught instanceof ZodError) return invalidInput(caught);
  if (caught instanceof oidcErrors.SessionNotFound || (caught instanceof oidcErrors.InvalidRequest && /interaction/.test(caught.message))) {
    return new AppError(
      'interaction_not_found',
      403,
      'This sign-in request has expired or was started in another browser. Go back to the app and start again.',
      { cause: caught },
    );
  }
  if (caught instanceof oidcErrors.OIDCProviderError) {
    return new AppError(caught.error, caught.statusCode, caught.error_description ?? caught.error, {
      cause: caught,
      expose: caught.expose,
    });
  }
  if (isStorageFailure(caught)) return storageUnavailable(caught);
  const fetch = fetchFailure(caught);
  if (fetch === 'timeout')
    return new AppError('upstream_timeout', 504, 'A service oauth3 depends on did not answer in time. Try again later.', {
      cause: caught,
      expose: true,
    });
  if (fetch === 'network')
    return new AppError('upstream_error', 502, 'A service oauth3 depends on could not be reached. Try again later.', {
      cause: caught,
      expose: true,
    });
  return new AppError('server_error', 500, 'internal error', { cause: caught, expose: false });
}

import type { ZodError } from 'zod';

/**
 * Errors are values with a stable `code`, an HTTP status and an `expose` flag (the shape of oidc-provider's
 * OIDCProviderError): clients see `{ error, error_description }`; causes stay in the logs.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly description: string = code,
    options?: { cause?: unknown; expose?: boolean },
  ) {
    super(description, { cause: options?.cause });
    this.name = 'AppError';
    this.expose = options?.expose ?? status < 500;
  }
  readonly expose: boolean;
}

export const badRequest = (code: string, description?: string) => new AppError(code, 400, description);
export const forbidden = (code: string, description?: string) => new AppError(code, 403, description);
export const notFound = (code = 'not_found', description = 'not found') => new AppError(code, 404, description);

/** `assertThat(cond, 'code', 403)` instead of `if (!x) throw ...` sprinkled with strings. */
export function assertThat(condition: unknown, code: string, status = 400, description?: string): asserts condition {
  if (!condition) throw new AppError(code, status, description ?? code);
}

/** A failed zod parse at the edge, where every input is validated: 400 `invalid_request` naming the first bad field. */
export function invalidInput(caught: ZodError): AppError {
  const issue = caught.issues[0];
  const field = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return new AppError('invalid_request', 400, `${field}${issue?.message ?? 'invalid input'}`, { cause: caught });
}

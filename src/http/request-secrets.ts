/**
 * The upstream secrets opened for one call (by `kit.connection`: an API request or an MCP tool call), so that a foreign error that quotes one (a
 * library error whose message holds the request URL with a bot token in it) is scrubbed before it is logged. The
 * plugins translate their errors first; this is the second line of defence for threat model G2.
 */
const opened = new WeakMap<object, Set<string>>();

export function rememberSecrets(ctx: object, value: unknown): void {
  const found = opened.get(ctx) ?? new Set<string>();
  collect(value, found);
  opened.set(ctx, found);
}

function collect(value: unknown, into: Set<string>): void {
  if (typeof value === 'string') {
    // Short values (a chat id, "Bearer") are not secrets, and scrubbing them would only garble the message.
    if (value.length >= 8) into.add(value);
  } else if (value && typeof value === 'object') {
    for (const item of Object.values(value)) collect(item, into);
  }
}

/** Every opened secret, and its URL-encoded form, replaced in `text`. */
export function scrub(ctx: object, text: string): string {
  let out = text;
  for (const secret of opened.get(ctx) ?? []) {
    for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join('[redacted]');
  }
  return out;
}

/** An error as a log line may show it: type, code, message and stack, each scrubbed. */
export function loggableError(ctx: object, error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { type: typeof error };
  const { code, status } = error as { code?: unknown; status?: unknown };
  return {
    type: error.name,
    ...(typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}),
    ...(status !== undefined ? { status: Number(status) } : {}),
    message: scrub(ctx, error.message),
    stack: scrub(ctx, error.stack ?? ''),
    ...(error.cause ? { cause: loggableError(ctx, error.cause) } : {}),
  };
}

import type { RouterMiddleware } from '@koa/router';
import { AppError } from '../errors.js';
import type { Connection, Plugin, PluginKit, ResourceState } from './plugin.js';

/**
 * The failures every upstream has, with the same codes and statuses in every plugin so that a caller handles them
 * once whichever plugin answers (README, error codes). A plugin spreads these into its `errors` and adds its own;
 * `credential` names what the owner connected ("the bot token"), for the re-link description.
 */
export const upstreamErrors = (upstream: string, credential = 'the stored credential') =>
  ({
    reconnect_required: { status: 409, description: `${upstream} no longer accepts ${credential}; the owner must connect it again.` },
    upstream_rate_limited: {
      status: 429,
      description: `${upstream} is rate limiting this account; retry after the seconds in Retry-After.`,
    },
    upstream_error: { status: 502, description: `${upstream} could not be reached or answered something unexpected.` },
    upstream_timeout: { status: 504, description: `${upstream} did not answer in time.` },
  }) satisfies Plugin['errors'];

/**
 * What every plugin's upstream failure is (X's, Telegram's, a configured provider's): an API error with a stable code
 * from the plugin's table, plus what the route must do about it: `relink` marks the owner's connection for
 * re-linking when the upstream refuses its credential (threat model G6), and `retryAfter` passes the upstream's wait
 * on a 429 as Retry-After. Built only from words we choose: it never carries the upstream's reply or our request, so
 * it cannot carry a credential (G2).
 */
export class UpstreamError extends AppError {
  readonly retryAfter?: string;
  readonly relink?: Connection;

  constructor(
    /** The upstream's name as owners know it (`X`, `Telegram`). */
    readonly upstream: string,
    code: string,
    status: number,
    description: string,
    options: { cause?: unknown; retryAfter?: string | number; relink?: Connection } = {},
  ) {
    super(code, status, description, { cause: options.cause, expose: true });
    this.name = 'UpstreamError';
    if (options.retryAfter !== undefined) this.retryAfter = String(options.retryAfter);
    if (options.relink) this.relink = options.relink;
  }
}

/**
 * What every caller of a plugin's upstream does with an UpstreamError: one that says the credential is refused
 * (`reconnect_required`) marks the connection it names for re-linking, so the owner sees it in the console and the
 * next call stops at `kit.connection`. The caller still gets the error when the mark cannot be written; the upstream
 * will refuse the next call too. Used by the routes' stage below and by MCP tool calls.
 */
export async function noteUpstreamError(kit: Pick<PluginKit, 'connections' | 'logger'>, error: UpstreamError): Promise<void> {
  const relink = error.code === 'reconnect_required' ? error.relink : undefined;
  if (!relink) return;
  await kit.connections.markNeedsRelink(relink, `${error.upstream} no longer accepts the stored credential.`).catch((cause: unknown) => {
    kit.logger.warn(
      { connectionId: relink.id, error: cause instanceof Error ? cause.name : typeof cause },
      'could not mark a connection for re-linking',
    );
  });
}

/**
 * Route stage wrapping a plugin's upstream calls: an UpstreamError marks a refused credential's connection
 * (`noteUpstreamError`), and a 429 passes the upstream's wait on as Retry-After. The error itself always travels on
 * unchanged.
 */
export function reportUpstreamErrors(kit: PluginKit): RouterMiddleware<ResourceState> {
  return async function reportUpstreamErrors(ctx, next) {
    try {
      await next();
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      await noteUpstreamError(kit, error);
      if (error.retryAfter !== undefined) ctx.set('Retry-After', error.retryAfter);
      throw error;
    }
  };
}

import type { RouterMiddleware } from '@koa/router';
import type { ApiContext, Connection, Plugin, PluginKit, ResourceState } from './plugin.js';

/**
 * The failures every upstream has, with the same codes and statuses in every plugin so that a caller handles them
 * once whichever plugin answers (README, error codes). A plugin spreads these into its `errors` and adds its own;
 * `credential` names what the owner connected ("the bot token"), for the re-link description.
 */
export const upstreamErrors = (upstream: string, credential = 'the stored credential') =>
  ({
    reconnect_required: { status: 409, description: `${upstream} no longer accepts ${credential}; the owner must connect it again.` },
    upstream_rate_limited: { status: 429, description: `${upstream} is rate limiting this account; retry after the seconds in Retry-After.` },
    upstream_error: { status: 502, description: `${upstream} could not be reached or answered something unexpected.` },
    upstream_timeout: { status: 504, description: `${upstream} did not answer in time.` },
  }) satisfies Plugin['errors'];

/** What the stage below needs from a plugin's error: the connection to mark for re-linking, and how long to wait. */
export interface UpstreamFailure {
  relink?: Connection;
  retryAfter?: string | number;
}

/**
 * Route stage wrapping a plugin's upstream calls: a credential the upstream refuses marks the connection for
 * re-linking (threat model G6), so the owner sees it in the console and the next call stops at `kit.connection`; a
 * 429 passes the upstream's wait on as Retry-After. `read` picks these out of the plugin's own errors (undefined for
 * any other error); the error itself always travels on unchanged.
 */
export function reportUpstreamErrors(
  kit: PluginKit,
  upstream: string,
  read: (error: unknown, ctx: ApiContext) => UpstreamFailure | undefined,
): RouterMiddleware<ResourceState> {
  return async function reportUpstreamErrors(ctx, next) {
    try {
      await next();
    } catch (error) {
      const failure = read(error, ctx);
      if (failure?.relink) {
        const { relink } = failure;
        // The caller still gets the 409 when the mark cannot be written; the upstream will refuse the next call too.
        await kit.connections.markNeedsRelink(relink, `${upstream} no longer accepts the stored credential.`).catch((cause: unknown) => {
          kit.logger.warn({ connectionId: relink.id, error: cause instanceof Error ? cause.name : typeof cause }, 'could not mark a connection for re-linking');
        });
      }
      if (failure?.retryAfter !== undefined) ctx.set('Retry-After', String(failure.retryAfter));
      throw error;
    }
  };
}

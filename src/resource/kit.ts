import type { RouterMiddleware } from '@koa/router';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Action, ApiContext, ApiCaller, Connection, PluginKit, ResourceState, UpstreamAccess } from '../plugins/plugin.js';
import { contentRefusal, dailyLimitReached } from '../policies/gate.js';
import { InsufficientScope, ownerRequired } from './errors.js';
import { markRefusedCredential, openConnection } from '../plugins/open-connection.js';
import { rememberSecrets } from '../http/request-secrets.js';
import { connectionFor, policyFor } from './call-snapshot.js';
import type { ResourceServices } from '../plugins/services.js';

export interface KitDeps {
  config: Config;
  logger: Logger;
  services: ResourceServices;
}

function callerOf(ctx: ApiContext): ApiCaller {
  const { caller } = ctx.state;
  // The bearer stage runs first for every /api route; reaching here without it is a wiring bug, not a client's.
  if (!caller) throw new Error('resource route reached without the bearer stage');
  return caller;
}

/** Everything below acts for the token's owner; a client-credentials token has none (ApiCaller.machine). */
function ownerCaller(ctx: ApiContext): ApiCaller {
  const caller = callerOf(ctx);
  if (caller.machine) throw ownerRequired();
  return caller;
}

function checkScope(ctx: ApiContext, scope: string): void {
  if (!callerOf(ctx).scopes.has(scope)) throw new InsufficientScope(scope);
  ctx.state.scope ??= scope;
}

/**
 * The PluginKit (src/plugins/plugin.ts) every plugin route gets: scope stages, the owner's opened connection, and
 * `perform`, which runs a write through the owner's policy for this app in this order: scope,
 * owner, input, content rules, hold for approval, daily limit, then the upstream call.
 */
export function createKit({ config, logger, services }: KitDeps): PluginKit {
  async function connection(ctx: ApiContext, provider: string, lookup?: Promise<Connection | undefined>): Promise<UpstreamAccess> {
    const caller = ownerCaller(ctx);
    // Named before opening: a refresh that fails on the way still counts against this provider (metrics).
    ctx.state.upstreamProvider = provider;
    const access = await openConnection(
      services,
      logger,
      caller.accountId,
      provider,
      lookup ?? connectionFor(caller, provider, services.connections),
    );
    rememberSecrets(ctx, [access.secret, access.accessToken]);
    ctx.state.connectionId = access.connection.id;
    return access;
  }

  async function run(
    ctx: ApiContext,
    action: Action,
    payload: unknown,
    limit: number | null,
    status: number,
    lookup: Promise<Connection | undefined>,
  ): Promise<void> {
    const caller = ownerCaller(ctx);
    // Connected first, so a call that cannot reach the upstream does not use up one of the day's posts.
    const access = await connection(ctx, action.provider, lookup);
    if (limit !== null && !(await services.daily.take(caller.grantId, limit))) throw dailyLimitReached(limit);
    try {
      const result = await action.run(payload, access, services.actionDeps);
      ctx.status = status;
      ctx.body = result;
    } catch (error) {
      if (limit !== null) await services.daily.giveBack(caller.grantId).catch(() => undefined);
      await markRefusedCredential(services, logger, access, error);
      throw error;
    }
  }

  return {
    config,
    logger,
    connections: services.connections,
    requireScope(scope: string): RouterMiddleware<ResourceState> {
      return async function requireScope(ctx, next) {
        checkScope(ctx, scope);
        await next();
      };
    },
    connection,
    async perform(ctx, actionId, input, options = {}) {
      const action = services.registry.action(actionId);
      if (!action) throw new Error(`no plugin defines the action ${actionId}`);
      checkScope(ctx, action.scope);
      const caller = ownerCaller(ctx);
      const payload = action.input.parse(input);
      // Both usually come from the token's own read (call-snapshot.ts); otherwise they are read at once, not one after
      // the other. The connection is used only if the policy lets the call through, and its errors only count then.
      const lookup = connectionFor(caller, action.provider, services.connections);
      lookup.catch(() => undefined);
      const policy = await policyFor(caller, services.policies);
      // Content rules refuse before anything waits for the owner: a post that could never go out is not held.
      const refusal = contentRefusal(policy, action.text(payload));
      if (refusal) throw refusal;
      if (policy.hold_for_approval) {
        const held = await services.held.create({
          accountId: caller.accountId,
          grantId: caller.grantId,
          clientId: caller.clientId,
          action: action.id,
          payload,
          summary: action.text(payload),
        });
        ctx.status = 202;
        ctx.body = { status: 'pending_approval', id: held.id, action: action.id, created_at: held.createdAt.toISOString() };
        return;
      }
      await run(ctx, action, payload, policy.posts_per_day, options.status ?? 201, lookup);
    },
  };
}

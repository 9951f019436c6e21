import type { RouterMiddleware } from '@koa/router';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type {
  Action,
  ActionOutcome,
  ApiCaller,
  CallContext,
  Connection,
  PluginKit,
  ResourceState,
  UpstreamAccess,
} from '../plugins/plugin.js';
import { contentRefusal } from '../policies/gate.js';
import { InsufficientScope, ownerRequired } from './errors.js';
import { markRefusedCredential, openConnection } from '../plugins/open-connection.js';
import { rememberSecrets } from '../http/request-secrets.js';
import { connectionFor, policyFor, policyGrantOf } from './call-snapshot.js';
import type { ResourceServices } from '../plugins/services.js';
import type { EventLog } from '../accounts/events.js';

export interface KitDeps {
  config: Config;
  logger: Logger;
  services: ResourceServices;
  /** The access log: a held post is recorded there, which also tells the owner in Telegram (src/notices/). */
  events: EventLog;
}

function callerOf(call: CallContext): ApiCaller {
  const { caller } = call.state;
  // The bearer stage runs first for every /api route; reaching here without it is a wiring bug, not a client's.
  if (!caller) throw new Error('resource route reached without the bearer stage');
  return caller;
}

/** Everything below acts for the token's owner; a client-credentials token has none (ApiCaller.machine). */
function ownerCaller(call: CallContext): ApiCaller {
  const caller = callerOf(call);
  if (caller.machine) throw ownerRequired();
  return caller;
}

function checkScope(call: CallContext, scope: string): void {
  if (!callerOf(call).scopes.has(scope)) throw new InsufficientScope(scope);
  call.state.scope ??= scope;
}

/**
 * The PluginKit (src/plugins/plugin.ts) every plugin route and MCP tool gets: scope stages, the owner's opened
 * connection, and `act` (`perform` for routes), which runs a write through the owner's policy for this app in this
 * order: scope, owner, input, content rules, hold for approval, daily limit, then the upstream call.
 */
export function createKit({ config, logger, services, events }: KitDeps): PluginKit {
  async function connection(call: CallContext, provider: string, lookup?: Promise<Connection | undefined>): Promise<UpstreamAccess> {
    const caller = ownerCaller(call);
    // Named before opening: a refresh that fails on the way still counts against this provider (metrics).
    call.state.upstreamProvider = provider;
    const access = await openConnection(
      services,
      logger,
      caller.accountId,
      provider,
      lookup ?? connectionFor(caller, provider, services.connections),
    );
    rememberSecrets(call, [access.secret, access.accessToken]);
    call.state.connectionId = access.connection.id;
    return access;
  }

  async function run(call: CallContext, action: Action, payload: unknown, limit: number | null, lookup: Promise<Connection | undefined>) {
    const caller = ownerCaller(call);
    // Connected first, so a call that cannot reach the upstream does not use up one of the day's posts.
    const access = await connection(call, action.provider, lookup);
    // An exchanged token's posts count against its root grant's limit, shared with every token of that tree.
    const limited = policyGrantOf(caller);
    if (limit !== null && !(await services.daily.take(limited, limit)))
      throw await services.daily.refusal({ accountId: caller.accountId, clientId: caller.clientId, grantId: limited }, limit);
    try {
      return await action.run(payload, access, services.actionDeps);
    } catch (error) {
      if (limit !== null) await services.daily.giveBack(limited).catch(() => undefined);
      await markRefusedCredential(services, logger, access, error);
      throw error;
    }
  }

  async function act<R>(call: CallContext, actionId: string, input: unknown): Promise<ActionOutcome<R>> {
    const action = services.registry.action(actionId);
    if (!action) throw new Error(`no plugin defines the action ${actionId}`);
    checkScope(call, action.scope);
    const caller = ownerCaller(call);
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
      await events.record({
        kind: 'action.held',
        accountId: caller.accountId,
        clientId: caller.clientId,
        grantId: caller.grantId,
        detail: { held_id: held.id, action: action.id, provider: action.provider },
      });
      return { status: 'pending_approval', approval: { id: held.id, action: action.id, created_at: held.createdAt.toISOString() } };
    }
    return { status: 'done', result: (await run(call, action, payload, policy.posts_per_day, lookup)) as R };
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
    act,
    async perform(ctx, actionId, input, options = {}) {
      const outcome = await act(ctx, actionId, input);
      if (outcome.status === 'pending_approval') {
        ctx.status = 202;
        ctx.body = {
          status: 'pending_approval',
          id: outcome.approval.id,
          action: outcome.approval.action,
          created_at: outcome.approval.created_at,
        };
        return;
      }
      ctx.status = options.status ?? 201;
      ctx.body = outcome.result;
    },
  };
}

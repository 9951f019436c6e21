import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HeldAction } from '../policies/held.js';
import { markRefusedCredential, openConnection } from './open-connection.js';
import type { ResourceServices } from './services.js';

/**
 * Runs a held action the owner has just approved (the console's Approvals page calls this after
 * `HeldActions.decide`). The stored payload is validated again with the action's own schema, since it has sat in the
 * database; the post counts against the app's daily limit like any other. Content rules are not applied again: the
 * owner read this very text and approved it. Throws an AppError when the action cannot run.
 */
export async function runApproved(
  services: ResourceServices,
  held: HeldAction,
  logger: Logger = services.actionDeps.logger,
): Promise<unknown> {
  const action = services.registry.action(held.action);
  if (!action) throw new AppError('action_unavailable', 409, 'The plugin that made this request is no longer installed.');
  const parsed = action.input.safeParse(held.payload);
  if (!parsed.success) throw new AppError('invalid_held_action', 409, 'This held request is no longer valid and cannot be sent.');
  const access = await openConnection(services, logger, held.accountId, action.provider);
  // A sub-agent's held post (token exchange) counts against its chain's root grant, as it would have at /api.
  const grantId = await services.policies.governing(held.grantId);
  const { posts_per_day: limit } = await services.policies.get(grantId);
  if (limit !== null && !(await services.daily.take(grantId, limit))) throw await services.daily.refusal({ ...held, grantId }, limit);
  try {
    return await action.run(parsed.data, access, services.actionDeps);
  } catch (error) {
    if (limit !== null) await services.daily.giveBack(grantId).catch(() => undefined);
    await markRefusedCredential(services, logger, access, error);
    throw error;
  }
}

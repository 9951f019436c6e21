import { z } from 'zod';

/** An approval the owner has yet to give: what `kit.act` returns for a held action, and what the API answers with 202. */
export const HeldApproval = z.object({
  id: z.string().describe("The approval's id; the owner sees the same request in their console."),
  action: z.string(),
  created_at: z.string(),
});

/**
 * The structured result of a tool that runs a policy-checked action (`kit.act`): `done` with the action's own result,
 * or `pending_approval` with the approval it waits for.
 */
export const actionOutput = <R extends z.ZodType>(result: R) =>
  z.object({
    status: z.enum(['done', 'pending_approval']).describe('done: it ran; pending_approval: it runs when the owner approves it.'),
    result: result.optional().describe('What the action returned, when status is done.'),
    approval: HeldApproval.optional().describe('The approval it waits for, when status is pending_approval.'),
  });

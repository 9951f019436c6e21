import type Router from '@koa/router';
import type { Context } from 'koa';
import { z, ZodError } from 'zod';
import { notFound } from '../../errors.js';
import type { AgentToken, NewAgentToken } from '../../grants/agent-tokens.js';
import { AGENT_CLIENT_ID } from '../../provider/first-party.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { backTo, noticeFrom } from '../../web/notices.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { consolePage, type ConsolePageInput } from '../views/layout.js';
import { tokensBody, type TokensPageInput } from '../views/tokens.js';
import { FormFields, guard, pathParam } from '../../http/guard.js';
import { OneTimeView } from '../../accounts/one-time-view.js';

const TokenId = z.string().regex(/^agt_[A-Za-z0-9_-]{1,60}$/);

const MESSAGES = { revoked: 'Token revoked. It stopped working at once.' };
/** After a mint: the token on this one view, or (on a reload) that it is gone. */
export const MINTED = {
  shown: 'Token made. Copy it now: it is shown only once.',
  gone: 'This token was shown once and is not shown again. If you did not copy it, revoke it below and make another.',
};
const PAGE = '/console/tokens';
/** The form's fields in the page's words, for a problem shown above the form. */
const FIELDS: Record<string, string> = {
  name: 'Name',
  scopes: 'Permissions (pick at least one)',
  lifetime_hours: 'Works for',
  resource: 'Used by',
};

const tokenJson = (t: AgentToken) => ({
  id: t.id,
  name: t.name,
  scopes: t.scopes,
  resource: t.resource,
  created_at: t.createdAt.toISOString(),
  expires_at: t.expiresAt.toISOString(),
  last_used_at: t.lastUsedAt?.toISOString() ?? null,
  revoked_at: t.revokedAt?.toISOString() ?? null,
});

/**
 * A page form's token: one checkbox per scope (`scope:<name>`), since a repeated field is refused (http/body.ts), and
 * where the token is used (`resource`), left to the schema's default when the form has no such field.
 */
export function tokenFromForm(body: Record<string, unknown>): NewAgentToken {
  const hours = typeof body.lifetime_hours === 'string' && body.lifetime_hours !== '' ? Number(body.lifetime_hours) : undefined;
  return {
    name: typeof body.name === 'string' ? body.name : '',
    scopes: Object.keys(body)
      .filter((key) => key.startsWith('scope:') && body[key] === 'on')
      .map((key) => key.slice('scope:'.length)),
    ...(hours === undefined ? {} : { lifetime_hours: hours }),
    ...(typeof body.resource === 'string' ? { resource: body.resource as NewAgentToken['resource'] } : {}),
  };
}

/**
 * Mints an agent token for the signed-in owner and records it in their access log; the value is in the result only.
 * The Agent tokens and the MCP pages both mint through it.
 */
export function agentTokenMinter(deps: Pick<ConsoleDeps, 'agentTokens' | 'events'>) {
  return async function mint(ctx: Context, input: NewAgentToken) {
    const owner = ownerOf(ctx);
    const created = await deps.agentTokens.create(owner.accountId, input);
    const { agentToken: t } = created;
    await deps.events.record({
      kind: 'token.minted',
      accountId: owner.accountId,
      clientId: AGENT_CLIENT_ID,
      grantId: t.grantId,
      ip: ctx.ip,
      detail: { grant_type: 'agent_token', name: t.name, scopes: t.scopes, resource: t.resource, expires_at: t.expiresAt.toISOString() },
    });
    return created;
  };
}

/** The form's first problem in the page's words, for the notice above the form. */
export function formProblem(error: ZodError): string {
  const issue = error.issues[0];
  return `${FIELDS[String(issue?.path[0])] ?? 'Form'}: ${issue?.message ?? 'invalid input'}`;
}

/**
 * /console/tokens and /console/api/tokens: tokens an owner mints for their own agents. The value is returned once,
 * in the response that creates it; lists show only names, permissions and dates.
 */
export function tokensArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);
  const { agentTokens } = deps;

  const create = agentTokenMinter(deps);
  const once = new OneTimeView(deps.cookieKeys, deps.config.ISSUER.startsWith('https:'));

  /** Another owner's token id is "not found", exactly like an unknown one, and stays untouched. */
  async function revoke(ctx: Context): Promise<void> {
    const owner = ownerOf(ctx);
    const id = TokenId.safeParse(pathParam(ctx, 'id'));
    const token = id.success ? await agentTokens.find(owner.accountId, id.data) : undefined;
    if (!token) throw notFound('not_found', 'No such token.');
    await agentTokens.revoke(token);
    await deps.events.record({
      kind: 'token.revoked',
      accountId: owner.accountId,
      clientId: AGENT_CLIENT_ID,
      grantId: token.grantId,
      ip: ctx.ip,
      detail: { name: token.name },
    });
  }

  async function page(
    ctx: Context,
    extra: Omit<TokensPageInput, 'tokens' | 'csrf' | 'scopes'> = {},
    notice: ConsolePageInput['notice'] = noticeFrom(ctx, MESSAGES),
  ) {
    const csrf = csrfFor(ctx);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Agent tokens',
      active: '/console/tokens',
      csrf,
      notice,
      body: tokensBody({ tokens: await agentTokens.list(ownerOf(ctx).accountId), csrf, scopes: deps.scopes, ...extra }),
    });
  }

  router.get('/console/tokens', async function showTokens(ctx) {
    if (ctx.query.done !== 'minted') return page(ctx);
    // The token just made, on this one view: a reload finds the slot empty and says so.
    const created = once.take<TokensPageInput['created']>(ctx, PAGE);
    await page(ctx, created ? { created } : {}, { kind: 'ok', text: created ? MINTED.shown : MINTED.gone });
  });

  router.get('/console/api/tokens', async function listTokens(ctx) {
    ctx.body = { tokens: (await agentTokens.list(ownerOf(ctx).accountId)).map(tokenJson) };
  });

  router.post('/console/api/tokens', ...mutate, guard({ body: agentTokens.schema }), async function mintToken(ctx) {
    const { token, agentToken } = await create(ctx, ctx.state.input.body);
    ctx.status = 201;
    ctx.body = { token, ...tokenJson(agentToken) };
  });

  router.delete('/console/api/tokens/:id', ...mutate, async function revokeToken(ctx) {
    await revoke(ctx);
    ctx.body = { revoked: true };
  });

  router.post('/console/tokens', ...mutate, guard({ body: FormFields.transform(tokenFromForm) }), async function mintTokenFromPage(ctx) {
    const input = ctx.state.input.body;
    try {
      const { token, agentToken } = await create(ctx, input);
      // POST, redirect, GET: the value waits in a one-time slot, so a reload shows the page and never mints again.
      once.put(ctx, PAGE, { token, name: agentToken.name, resource: agentToken.resource });
      backTo(ctx, PAGE, 'minted');
    } catch (error) {
      if (!(error instanceof ZodError)) throw error;
      ctx.status = 400;
      await page(
        ctx,
        { draft: { name: input.name, scopes: input.scopes, lifetimeHours: input.lifetime_hours, resource: input.resource } },
        { kind: 'error', text: formProblem(error) },
      );
    }
  });

  router.post('/console/tokens/:id/revoke', ...mutate, async function revokeTokenFromPage(ctx) {
    await revoke(ctx);
    backTo(ctx, '/console/tokens', 'revoked');
  });
}

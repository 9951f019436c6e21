import type Router from '@koa/router';
import type { Context } from 'koa';
import { z, ZodError } from 'zod';
import { notFound } from '../../errors.js';
import type { AgentService, NewAgentService } from '../../agents/agent-services.js';
import { GRACE_PERIODS, type GracePeriod } from '../../clients/secrets.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { backTo, noticeFrom } from '../../web/notices.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { consolePage, type ConsolePageInput } from '../views/layout.js';
import { agentsBody, type AgentsPageInput } from '../views/agents.js';
import { FormFields, guard, pathParam } from '../../http/guard.js';
import { OneTimeView } from '../../accounts/one-time-view.js';

/** Client ids from the clients store (src/clients/store.ts): `c_` and base64url. */
const ClientId = z.string().regex(/^c_[A-Za-z0-9_-]{1,60}$/);

const MESSAGES = { revoked: 'Agent revoked. Its tokens stopped working at once, and it can get no new ones.' };
const PAGE = '/console/agents';
/** After a registration or a new secret: the secret on this one view, or (on a reload) that it is gone. */
const SHOWN: Record<string, { shown: string; gone: string }> = {
  registered: {
    shown: 'Agent registered. Copy its secret now: it is shown only once.',
    gone: 'This secret was shown once and is not shown again. If you did not copy it, make a new secret for the agent below.',
  },
  rotated: {
    shown: 'New secret made. Copy it now: it is shown only once.',
    gone: 'This secret was shown once and is not shown again. If you did not copy it, make another new secret below.',
  },
};
/** The one-time view's form of a created agent: dates as ISO text. */
type Kept = Omit<NonNullable<AgentsPageInput['created']>, 'oldSecretsUntil'> & { oldSecretsUntil?: string };
/** How long the replaced secret keeps working after a rotation (the developer portal's choices). */
const Rotation = z.object({ grace: z.enum(Object.keys(GRACE_PERIODS) as [GracePeriod, ...GracePeriod[]]).default('1h') }).strict();
/** From the page the old secret keeps working an hour, time enough to give the agent its new one. */
const PAGE_GRACE: GracePeriod = '1h';
/** The form's fields in the page's words, for a problem shown above the form. */
const FIELDS: Record<string, string> = { name: 'Name', scopes: 'Permissions (pick at least one)' };

const agentJson = (a: AgentService) => ({
  client_id: a.clientId,
  name: a.name,
  grant_id: a.grantId,
  scopes: a.scopes,
  created_at: a.createdAt.toISOString(),
  last_used_at: a.lastUsedAt?.toISOString() ?? null,
});

/** The page form has one checkbox per scope (`scope:<name>`), since a repeated field is refused (http/body.ts). */
function fromForm(body: Record<string, unknown>): NewAgentService {
  return {
    name: typeof body.name === 'string' ? body.name : '',
    scopes: Object.keys(body)
      .filter((key) => key.startsWith('scope:') && body[key] === 'on')
      .map((key) => key.slice('scope:'.length)),
  };
}

/**
 * /console/agents and /console/api/agents: agent services bound to the owner. The secret is
 * returned once, in the response that registers the agent; lists show names, permissions and dates.
 */
export function agentsArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);
  const agents = deps.agentServices;
  const tokenEndpoint = new URL('/token', deps.config.ISSUER).href;

  const secrets = deps.clients.secrets();
  const once = new OneTimeView(deps.cookieKeys, deps.config.ISSUER.startsWith('https:'));
  const actor = (ctx: Context) => ({ accountId: ownerOf(ctx).accountId, ip: ctx.ip });

  /** Another owner's agent is "not found", exactly like an unknown one, and stays untouched. */
  async function ownedAgent(ctx: Context): Promise<AgentService> {
    const id = ClientId.safeParse(pathParam(ctx, 'clientId'));
    const agent = id.success ? await agents.find(ownerOf(ctx).accountId, id.data) : undefined;
    if (!agent) throw notFound('not_found', 'No such agent.');
    return agent;
  }

  async function revoke(ctx: Context): Promise<void> {
    await agents.revoke(actor(ctx), await ownedAgent(ctx));
  }

  /** A new secret, shown once; the old ones keep working for the grace period, then fail with invalid_client. */
  async function rotate(ctx: Context, grace: GracePeriod) {
    const agent = await ownedAgent(ctx);
    const rotated = await secrets.rotate(agent.clientId, GRACE_PERIODS[grace]);
    await deps.events.record({
      kind: 'agent.secret_rotated',
      accountId: ownerOf(ctx).accountId,
      clientId: agent.clientId,
      ip: ctx.ip,
      detail: { grace },
    });
    return { agent, ...rotated };
  }

  async function page(
    ctx: Context,
    extra: Pick<AgentsPageInput, 'created' | 'draft'> = {},
    notice: ConsolePageInput['notice'] = noticeFrom(ctx, MESSAGES),
  ) {
    const csrf = csrfFor(ctx);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Agent services',
      active: '/console/agents',
      csrf,
      notice,
      body: agentsBody({
        agents: await agents.list(ownerOf(ctx).accountId),
        csrf,
        tokenEndpoint,
        resource: deps.config.RESOURCE_URL,
        scopes: deps.scopes,
        ...extra,
      }),
    });
  }

  router.get('/console/agents', async function showAgents(ctx) {
    const words = typeof ctx.query.done === 'string' ? SHOWN[ctx.query.done] : undefined;
    if (!words) return page(ctx);
    // The secret just made, on this one view: a reload finds the slot empty and says so.
    const kept = once.take<Kept>(ctx, PAGE);
    const created = kept && { ...kept, oldSecretsUntil: kept.oldSecretsUntil ? new Date(kept.oldSecretsUntil) : undefined };
    await page(ctx, created ? { created } : {}, { kind: 'ok', text: created ? words.shown : words.gone });
  });

  router.get('/console/api/agents', async function listAgents(ctx) {
    ctx.body = { agents: (await agents.list(ownerOf(ctx).accountId)).map(agentJson) };
  });

  router.post('/console/api/agents', ...mutate, guard({ body: agents.schema }), async function registerAgent(ctx) {
    const { service, clientSecret } = await agents.register(actor(ctx), ctx.state.input.body);
    ctx.status = 201;
    ctx.body = { ...agentJson(service), client_secret: clientSecret, token_endpoint: tokenEndpoint, resource: deps.config.RESOURCE_URL };
  });

  router.delete('/console/api/agents/:clientId', ...mutate, async function revokeAgent(ctx) {
    await revoke(ctx);
    ctx.body = { revoked: true };
  });

  router.post('/console/api/agents/:clientId/secret', ...mutate, async function rotateAgentSecret(ctx) {
    const { grace } = Rotation.parse(ctx.state.body ?? {});
    const { agent, clientSecret, expiresOldAt } = await rotate(ctx, grace);
    ctx.status = 201;
    ctx.body = { client_id: agent.clientId, client_secret: clientSecret, old_secrets_expire_at: expiresOldAt.toISOString() };
  });

  router.post('/console/agents/:clientId/secret', ...mutate, async function rotateAgentSecretFromPage(ctx) {
    const { agent, clientSecret, expiresOldAt } = await rotate(ctx, PAGE_GRACE);
    // Like registration: POST, redirect, GET, so a reload never makes another secret.
    const kept: Kept = {
      clientId: agent.clientId,
      clientSecret,
      name: agent.name,
      scopes: agent.scopes,
      oldSecretsUntil: expiresOldAt.toISOString(),
    };
    once.put(ctx, PAGE, kept);
    backTo(ctx, PAGE, 'rotated');
  });

  router.post('/console/agents', ...mutate, guard({ body: FormFields.transform(fromForm) }), async function registerAgentFromPage(ctx) {
    const input = ctx.state.input.body;
    try {
      const { service, clientSecret } = await agents.register(actor(ctx), input);
      // POST, redirect, GET: the secret waits in a one-time slot, so a reload never registers another agent.
      const kept: Kept = { clientId: service.clientId, clientSecret, name: service.name, scopes: service.scopes };
      once.put(ctx, PAGE, kept);
      backTo(ctx, PAGE, 'registered');
    } catch (error) {
      if (!(error instanceof ZodError)) throw error;
      const issue = error.issues[0];
      ctx.status = 400;
      await page(
        ctx,
        { draft: { name: input.name, scopes: input.scopes } },
        { kind: 'error', text: `${FIELDS[String(issue?.path[0])] ?? 'Form'}: ${issue?.message ?? 'invalid input'}` },
      );
    }
  });

  router.post('/console/agents/:clientId/revoke', ...mutate, async function revokeAgentFromPage(ctx) {
    await revoke(ctx);
    backTo(ctx, '/console/agents', 'revoked');
  });
}

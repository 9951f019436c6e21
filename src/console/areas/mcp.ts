import type Router from '@koa/router';
import type { Context } from 'koa';
import { ZodError } from 'zod';
import type { NewAgentToken } from '../../grants/agent-tokens.js';
import type { Tool } from '../../plugins/plugin.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { consolePage, type ConsolePageInput } from '../views/layout.js';
import { mcpBody, type McpPageInput, type McpToolSummary } from '../views/mcp.js';
import { FormFields, guard } from '../../http/guard.js';
import { agentTokenMinter, formProblem, MINTED, tokenFromForm } from './tokens.js';
import { backTo } from '../../web/notices.js';
import { OneTimeView } from '../../accounts/one-time-view.js';

const PAGE = '/console/mcp';
const GONE = 'This token was shown once and is not shown again. If you did not copy it, revoke it under Agent tokens and make another.';

const summary = (tool: Tool): McpToolSummary => ({
  name: tool.name,
  title: tool.title,
  description: tool.description,
  scope: tool.scope,
  readOnly: tool.annotations?.readOnlyHint === true,
});

/**
 * /console/mcp and /console/api/mcp: how an owner connects an MCP client to this server (its address, what to paste
 * into common clients, the tools and the scope each needs), and an agent token for the MCP server for clients that
 * cannot sign in by OAuth. The token's value is returned once, in the response that creates it.
 */
export function mcpArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);
  const mint = agentTokenMinter(deps);
  const once = new OneTimeView(deps.cookieKeys, deps.config.ISSUER.startsWith('https:'));
  const url = deps.config.MCP_URL;
  const tools = deps.mcpTools.map(summary);
  // A client needs a client id before it can ask the owner: by registering (RFC 7591), which only open registration
  // allows without an operator's token, or by a client ID metadata document.
  const selfRegistration = deps.config.REGISTRATION === 'open' || deps.config.CLIENT_METADATA_DOCUMENTS;

  async function page(ctx: Context, extra: Pick<McpPageInput, 'created' | 'draft'> = {}, notice?: ConsolePageInput['notice']) {
    const csrf = csrfFor(ctx);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Use with an MCP client',
      active: '/console/mcp',
      csrf,
      notice,
      body: mcpBody({ url, tools, selfRegistration, scopes: deps.scopes, csrf, ...extra }),
    });
  }

  router.get('/console/mcp', async function showMcp(ctx) {
    if (ctx.query.done !== 'minted') return page(ctx);
    const created = once.take<McpPageInput['created']>(ctx, PAGE);
    await page(ctx, created ? { created } : {}, { kind: 'ok', text: created ? MINTED.shown : GONE });
  });

  router.get('/console/api/mcp', async function describeMcp(ctx) {
    ctx.body = {
      url,
      self_registration: selfRegistration,
      tools: tools.map((t) => ({ name: t.name, title: t.title, description: t.description, scope: t.scope, read_only: t.readOnly })),
    };
  });

  const McpTokenForm = FormFields.transform((body): NewAgentToken => ({ ...tokenFromForm(body), resource: 'mcp' }));
  router.post('/console/mcp', ...mutate, guard({ body: McpTokenForm }), async function mintMcpTokenFromPage(ctx) {
    const input = ctx.state.input.body;
    try {
      const { token, agentToken } = await mint(ctx, input);
      // POST, redirect, GET: the value waits in a one-time slot, so a reload never mints again (tokens.ts).
      once.put(ctx, PAGE, { token, name: agentToken.name });
      backTo(ctx, PAGE, 'minted');
    } catch (error) {
      if (!(error instanceof ZodError)) throw error;
      ctx.status = 400;
      await page(
        ctx,
        { draft: { name: input.name, scopes: input.scopes, lifetimeHours: input.lifetime_hours } },
        { kind: 'error', text: formProblem(error) },
      );
    }
  });
}

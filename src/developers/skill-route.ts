import type { Context } from 'koa';
import type { Config } from '../config.js';
import type { ClientRecord } from '../clients/store.js';
import type { ApiCallDoc } from '../plugins/plugin.js';
import { skillDocument, type SkillTool } from './skill.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';

/**
 * GET /developers/apps/:clientId/skill.md, after the portal checked the app is the developer's: the app's skill
 * document (skill.ts) as a Markdown download. It holds no secret.
 */
export function sendSkillDocument(
  ctx: Context,
  config: Pick<Config, 'ISSUER' | 'RESOURCE_URL' | 'MCP_URL'>,
  app: ClientRecord,
  calls: ApiCallDoc[],
  scopes: ScopeCatalog,
  tools: readonly SkillTool[] = [],
): void {
  const body = skillDocument({
    issuer: config.ISSUER,
    scopes,
    resourceUrl: config.RESOURCE_URL,
    mcpUrl: config.MCP_URL,
    app: {
      clientId: app.clientId,
      name: app.name,
      kind: app.kind,
      scopes: app.scope?.split(' ') ?? [],
      redirectUris: app.redirectUris,
      grantTypes: app.grantTypes,
    },
    calls,
    tools,
  });
  ctx.type = 'text/markdown; charset=utf-8';
  // A file name from the id alone: the app's name is the developer's text and stays out of headers.
  ctx.set('Content-Disposition', `attachment; filename="${app.clientId}-skill.md"`);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = body;
}

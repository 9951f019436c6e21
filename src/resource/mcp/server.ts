import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { lazy } from '../../lazy.js';
import type { Tool } from '../../plugins/plugin.js';
import type { ToolRequest, ToolRunner } from './tool-runner.js';

/** What an MCP client shows its user and its model about this server, once, at initialisation. */
const INSTRUCTIONS =
  "oauth3 acts on the owner's connected accounts (X, Telegram, other services) within what the owner granted this agent. " +
  'Each tool names the scope it needs; a call outside the grant is refused and the client is asked to request more. ' +
  "Posts may wait for the owner's approval: such a call returns status pending_approval with an approval id, and is sent " +
  'when the owner approves it; do not repeat it. Errors carry a stable code (error) and plain words (error_description).';

/**
 * The SDK, loaded on the first MCP request (lazy.ts). Its server checks JSON Schemas only in answers to elicitation,
 * which a stateless server never asks for, yet left to itself it builds a fresh validator (Ajv with its formats) for
 * every server, which is every request here and costs more than the rest of the MCP layer together. One for the
 * process does.
 */
export const mcpSdk = lazy(async () => {
  const [{ McpServer }, { AjvJsonSchemaValidator }, { WebStandardStreamableHTTPServerTransport }] = await Promise.all([
    import('@modelcontextprotocol/sdk/server/mcp.js'),
    import('@modelcontextprotocol/sdk/validation/ajv'),
    import('@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js'),
  ]);
  return { McpServer, jsonSchemaValidator: new AjvJsonSchemaValidator(), WebStandardStreamableHTTPServerTransport };
});

/**
 * The MCP server for one request (stateless Streamable HTTP: every POST is answered on its own, with no session): the
 * tools the plugins and the configured upstream providers bring, each bound to the caller this request's token
 * verified. Every tool is listed whatever the token holds, with its scope in the description, so an agent can ask the
 * owner for more; calling one without its scope is refused before it runs.
 */
export async function mcpServerFor(tools: readonly Tool[], runTool: ToolRunner, request: ToolRequest, version: string): Promise<McpServer> {
  const { McpServer, jsonSchemaValidator } = await mcpSdk();
  const server = new McpServer(
    { name: 'oauth3', title: 'oauth3', version },
    { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS, jsonSchemaValidator },
  );
  for (const tool of tools) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: `${tool.description} Needs the scope ${tool.scope}.`,
        inputSchema: tool.input,
        outputSchema: tool.output,
        annotations: { title: tool.title, ...tool.annotations },
        _meta: { 'oauth3/scope': tool.scope },
      },
      (args: unknown) => runTool(tool, args, request),
    );
  }
  // registerTool declares `listChanged: true`; a stateless server has no stream to announce a change on, and the
  // list never changes while the process runs.
  server.server.registerCapabilities({ tools: { listChanged: false } });
  return server;
}

import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../../logger.js';
import { toAppError, type AppError } from '../../errors.js';
import { providerLabel, type Metrics } from '../../metrics/metrics.js';
import type { ApiCaller, CallContext, PluginKit, Tool } from '../../plugins/plugin.js';
import { UpstreamError, noteUpstreamError } from '../../plugins/upstream-errors.js';
import { loggableError } from '../../http/request-secrets.js';
import { recordCall, type ApiCallLog } from '../access-log.js';
import { InsufficientScope } from '../errors.js';

/** Where an error result carries its code. */
export const ERROR_META = 'oauth3/error';

export interface ToolRunnerDeps {
  kit: PluginKit;
  log: ApiCallLog;
  logger: Logger;
  metrics?: Metrics;
}

/** Where the call came from, for the owner's access log. */
export interface ToolRequest {
  caller: ApiCaller;
  ip: string;
  requestId?: string;
}

/**
 * A refusal as an error result: the resource API's stable code and words as the text (`policy_daily_limit: …`), and
 * as `_meta["oauth3/error"]` `{ error, error_description, retry_after? }` for clients that read codes. Never as
 * structured content: clients check that against the tool's output schema, which describes success.
 */
function errorResult(error: AppError): CallToolResult {
  const code = error.expose ? error.code : 'server_error';
  const description = error.expose ? error.description : 'Something went wrong on our side. Try again later.';
  const retryAfter = error instanceof UpstreamError && error.retryAfter !== undefined ? Number(error.retryAfter) : undefined;
  return {
    isError: true,
    content: [{ type: 'text', text: `${code}: ${description}` }],
    _meta: {
      [ERROR_META]: { error: code, error_description: description, ...(retryAfter !== undefined ? { retry_after: retryAfter } : {}) },
    },
  };
}

/** What an agent reads: the structured result, and the same as JSON text for clients that show only text. */
function successResult(output: Record<string, unknown>): CallToolResult {
  const text =
    output.status === 'pending_approval'
      ? `Held for the owner's approval (approval id ${(output.approval as { id: string }).id}). oauth3 sends it when the owner ` +
        'approves it in their console; there is nothing more to do now, and calling the tool again would hold a second copy.'
      : JSON.stringify(output);
  return { content: [{ type: 'text', text }], structuredContent: output };
}

/**
 * Runs one MCP tool for the verified caller, in-process, through the same kit as the resource API's routes: the
 * tool's scope, then the plugin's own work (owner, policy, hold for approval, daily limit, the vault). Refusals become
 * error results with the resource API's stable codes and words; each call is one row of the owner's access log,
 * which names the tool. The agent's token never leaves this process.
 */
export function toolRunner({ kit, log, logger, metrics }: ToolRunnerDeps) {
  return async function runTool(tool: Tool, args: unknown, request: ToolRequest): Promise<CallToolResult> {
    const started = process.hrtime.bigint();
    const call: CallContext = { state: { caller: request.caller } };
    let status = 200;
    let errorCode: string | undefined;
    try {
      if (!request.caller.scopes.has(tool.scope)) throw new InsufficientScope(tool.scope);
      call.state.scope = tool.scope;
      // The MCP server has already parsed the arguments with the tool's own schema.
      const output = await tool.call(args as Record<string, unknown>, call, kit);
      return successResult(output);
    } catch (caught) {
      const error = toAppError(caught);
      if (caught instanceof UpstreamError) await noteUpstreamError(kit, caught);
      status = error.status;
      errorCode = error.expose ? error.code : 'server_error';
      if (error.status >= 500)
        logger.error(
          { err: loggableError(call, caught), requestId: request.requestId, code: error.code, tool: tool.name },
          'MCP tool call failed',
        );
      return errorResult(error);
    } finally {
      const provider = call.state.upstreamProvider;
      if (provider && metrics) metrics.upstreamCalls.inc({ provider: providerLabel(provider), outcome: errorCode ?? 'ok' });
      await recordCall(log, request.caller, {
        ip: request.ip,
        started,
        scope: call.state.scope ?? null,
        method: 'MCP',
        path: `tools/call ${tool.name}`,
        tool: tool.name,
        status,
        error: errorCode,
      });
    }
  };
}

export type ToolRunner = ReturnType<typeof toolRunner>;

import type { Middleware } from 'koa';
import type { Database } from '../db/database.js';
import { coalesce } from '../db/coalesce.js';
import type { Logger } from '../logger.js';
import { AGENT_CLIENT_ID } from '../provider/first-party.js';
import type { ApiCaller, ResourceState } from '../plugins/plugin.js';
import type { Act } from '../grants/delegations.js';

/** One `api.call` row of the owner's access log (src/accounts/access-log.ts counts them). */
export interface ApiCallEvent {
  accountId: string;
  clientId: string;
  grantId: string;
  outcome: 'ok' | 'failure';
  ip: string;
  detail: {
    scope: string | null;
    /** The HTTP method, or `MCP` for a tool call. */
    method: string;
    /** The route pattern, or `tools/call <tool>` for a tool call. */
    path: string;
    /** The MCP tool called, for a tool call. */
    tool?: string;
    status: number;
    latency_ms: number;
    error?: string;
    /** For a token made by token exchange: RFC 8693 `act`, nested, the outermost the sub-agent that made this call. */
    act?: Act;
    /** For a token made by token exchange: the token it was exchanged from (its app and grant) and the chain's root grant. */
    on_behalf_of?: { client_id: string; grant_id: string; root_grant_id: string };
  };
}

/**
 * Writes `api.call` events to the events table, the rows of concurrent calls in one statement (src/db/coalesce.ts),
 * so the log costs a round trip per batch rather than per call. Agent tokens' "last used" moves in the same batch.
 */
export class ApiCallLog {
  private readonly write = coalesce((events: ApiCallEvent[]) => this.insertMany(events));
  /** Agent grants whose "last used" this process wrote recently, with when. */
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
  ) {}

  /** Never throws: failing to write the log must not turn an answered call into an error. */
  async record(event: ApiCallEvent): Promise<void> {
    try {
      await this.write(event);
    } catch (err) {
      this.logger.error(
        { err: { message: String((err as Error)?.message) }, event: 'api.call' },
        'could not write API call to the access log',
      );
    }
  }

  private async insertMany(events: ApiCallEvent[]): Promise<void[]> {
    await this.db.query(
      `INSERT INTO events (account_id, client_id, grant_id, kind, outcome, detail, ip)
       SELECT e.account_id, e.client_id, e.grant_id, 'api.call', e.outcome, e.detail, e.ip
       FROM jsonb_to_recordset($1::jsonb) AS e(account_id text, client_id text, grant_id text, outcome text, detail jsonb, ip text)`,
      [
        JSON.stringify(
          events.map((e) => ({
            account_id: e.accountId,
            client_id: e.clientId,
            grant_id: e.grantId,
            outcome: e.outcome,
            detail: e.detail,
            ip: e.ip,
          })),
        ),
      ],
    );
    const agentGrants = this.dueForTouch(events);
    if (agentGrants.length) {
      await this.db.query('UPDATE agent_tokens SET last_used_at = now() WHERE grant_id = ANY($1::text[]) AND revoked_at IS NULL', [
        agentGrants,
      ]);
    }
    return events.map(() => undefined);
  }

  /**
   * Agent tokens' "last used" (console, Tokens) moves at most once a minute per token and process: a busy agent would
   * otherwise update the same row in every batch, and those updates queue on its row lock. The access-log rows
   * themselves are all written.
   */
  private dueForTouch(events: ApiCallEvent[]): string[] {
    const now = Date.now();
    if (this.touched.size > 10_000) this.touched.clear();
    const due = new Set<string>();
    for (const e of events) {
      if (e.clientId !== AGENT_CLIENT_ID || e.outcome !== 'ok' || (this.touched.get(e.grantId) ?? 0) > now - TOUCH_EVERY_MS) continue;
      this.touched.set(e.grantId, now);
      due.add(e.grantId);
    }
    return [...due];
  }
}

const TOUCH_EVERY_MS = 60_000;

/** What one call was, for its access-log row: where from, when it began, and how it ended. */
export interface CallRecord {
  ip: string;
  /** `process.hrtime.bigint()` when the call began. */
  started: bigint;
  scope: string | null;
  method: string;
  path: string;
  tool?: string;
  status: number;
  error?: string;
}

/** The row of one owner's call, API request or MCP tool call; a machine's token (no owner) has none. */
export async function recordCall(log: ApiCallLog, caller: ApiCaller | undefined, call: CallRecord): Promise<void> {
  if (!caller || caller.machine) return;
  const { ip, started, error, tool, ...detail } = call;
  await log.record({
    accountId: caller.accountId,
    clientId: caller.clientId,
    grantId: caller.grantId,
    outcome: call.status < 400 ? 'ok' : 'failure',
    ip,
    detail: {
      ...detail,
      ...(tool ? { tool } : {}),
      latency_ms: Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10,
      ...(error ? { error } : {}),
      ...(caller.delegation
        ? {
            act: caller.delegation.act,
            on_behalf_of: {
              client_id: caller.delegation.parentClientId,
              grant_id: caller.delegation.parentGrantId,
              root_grant_id: caller.delegation.rootGrantId,
            },
          }
        : {}),
    },
  });
}

/**
 * One access-log row per resource API call that carried a valid owner's token: app, grant, scope, route pattern (not
 * the raw path, which may hold ids), status, latency and error code. Never the token, never the request body. Calls
 * without a valid token have no owner, so they appear only in the request log line (src/http/security.ts).
 */
export function logApiCalls(log: ApiCallLog): Middleware<ResourceState> {
  return async function recordApiCall(ctx, next) {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      await recordCall(log, ctx.state.caller, {
        ip: ctx.ip,
        started,
        scope: ctx.state.scope ?? null,
        method: ctx.method,
        path: (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? '(no such route)',
        status: ctx.status,
        error: (ctx.state as { apiError?: string }).apiError,
      });
    }
  };
}

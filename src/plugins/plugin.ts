import type Router from '@koa/router';
import type { Act } from '../grants/delegations.js';
import type { RouterContext, RouterMiddleware } from '@koa/router';
import type { z } from 'zod';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { ScopeDefinition } from '../../scopes/catalog.js';
import type { Connection, ConnectionStore } from '../connections/store.js';
import type { UpstreamProviderInput } from '../upstream/provider-config.js';

/**
 * The plugin contract (docs/architecture.md#plugins); a plugin is a plain object checked with `satisfies Plugin`. It
 * brings its scopes, the kinds of credential an owner can connect for it, its routes under /api, its policy-checked
 * actions and its error codes. Core reads plugins only through the registry (./registry.ts), never by name.
 */
export interface Plugin {
  /** Lower-case id, also the folder name: `twitter`, `telegram`. */
  id: string;
  /** Added to the one scope catalog (scopes/catalog.ts) when the plugin loads. */
  scopes: ScopeDefinition[];
  /** How an owner connects an upstream account for this plugin (console, Connected accounts). */
  credentialKinds: CredentialKind[];
  /** Upstream OAuth 2.0 providers this plugin brings (X); operators add others by config alone. */
  upstreamProviders?(config: Config): UpstreamProviderInput[];
  /** Writes that go through the owner's policy (limits, content rules, hold for approval). */
  actions: Action[];
  /** Stable error codes this plugin answers with, for the README and the console. */
  errors: Record<string, { status: number; description: string }>;
  /** Registers the plugin's routes; paths are relative to the resource API root (`/api`). */
  routes(router: ApiRouter, kit: PluginKit): void;
  /** The routes as developers read about them (skill documents, the playground). Documentation only: `routes` serves. */
  docs?: ApiCallDoc[];
  /** What agents call over MCP (`POST /mcp`): the same work as the routes, through the same kit. */
  tools?: Tool[];
}

/** One resource API call, described for developers and agents (src/developers/skill.ts). */
export interface ApiCallDoc {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Relative to the resource API root, as in `routes`: `/tweet/:id`. */
  path: string;
  /** The scope the route requires. */
  scope: string;
  /** What the call does, in one plain sentence (Markdown: `code` in backticks; written by the plugin, never by users). */
  summary: string;
  /** An example JSON body, for calls that take one. */
  body?: Record<string, unknown>;
}

/** Who is calling the resource API, from the bearer token (src/resource/bearer.ts). */
export interface ApiCaller {
  accountId: string;
  clientId: string;
  grantId: string;
  scopes: ReadonlySet<string>;
  /**
   * True for a client-credentials token: an app acting for itself, with no owner (accountId and grantId are '').
   * `kit.connection` and `kit.perform` refuse it with 403 `owner_required`.
   */
  machine?: boolean;
  /**
   * For a token made by token exchange (RFC 8693): the grant whose policy and daily limit apply, the root of its chain.
   * Absent: `grantId`'s own.
   */
  policyGrantId?: string;
  /** For a token made by token exchange: who acts, and on whose behalf (the access log shows both). */
  delegation?: {
    /** RFC 8693 §4.1, nested, the outermost the current actor. */
    act: Act;
    parentGrantId: string;
    parentClientId: string;
    rootGrantId: string;
  };
}

export interface ResourceState {
  caller: ApiCaller;
  /** Set by `kit.requireScope`: the scope that allowed this call, for the owner's access log. */
  scope?: string;
  /** Set by `kit.connection`: the upstream account used, for the access log. */
  connectionId?: string;
  /** Set by `kit.connection`: the upstream provider the call used, for the metrics. */
  upstreamProvider?: string;
}

export type ApiContext = RouterContext<ResourceState>;

/**
 * One call a plugin works for, whoever made it: a resource API request (its Koa context is one) or one MCP tool call
 * (src/resource/mcp/). The kit reads the caller from it and notes what the access log and metrics report.
 */
export interface CallContext {
  state: ResourceState;
}
export type ApiRouter = Router<ResourceState>;

/** A credential pasted by the owner and checked against the upstream before it is saved. */
export interface VerifiedCredential {
  /** What the owner recognises in the console: `@handle`, a bot's name. Never a secret. */
  label: string;
  /** Sealed in the vault; only `kit.connection` opens it again. */
  secret: Record<string, unknown>;
  /** Non-secret details the plugin reads back later (upstream user id, allowed chats). */
  meta?: Record<string, unknown>;
}

export interface CredentialField {
  name: string;
  label: string;
  type: 'text' | 'password' | 'textarea';
  help?: string;
  required?: boolean;
}

/** Numbered steps telling the owner where to find what they paste, one list per place (such as a browser). */
export interface CredentialGuide {
  title: string;
  steps: string[];
}

export interface CredentialKind {
  /** Stored in connections.kind: `x.cookie`, `telegram.bot`. OAuth kinds use `oauth2`. */
  id: string;
  /** The upstream this connects (connections.provider): `x`, `telegram`. */
  provider: string;
  title: string;
  /** Plain words for the console: what the owner pastes and where to find it. */
  description: string;
  /** Pasted credentials: the form, its schema, and the upstream check run before saving. */
  paste?: {
    fields: CredentialField[];
    /** Where to find the values, shown beside the form (short steps, readable on a phone). */
    guide?: CredentialGuide[];
    input: z.ZodType<Record<string, unknown>>;
    verify(input: Record<string, unknown>, deps: { config: Config; logger: Logger }): Promise<VerifiedCredential>;
  };
  /** Connected by redirect through the generic upstream OAuth 2.0 client, with this provider id. */
  oauth?: { provider: string };
}

/** What an action's `run` is given besides its payload and the opened connection. */
export interface ActionDeps {
  config: Config;
  logger: Logger;
}

/** What `kit.connection` hands a route: the owner's upstream account and, opened from the vault, its secret. */
export interface UpstreamAccess {
  connection: Connection;
  /** The secret as the credential kind's `verify` stored it; for `oauth2` kinds, a fresh access token. */
  secret: Record<string, unknown>;
  /** For `oauth2` connections: a valid upstream access token (refreshed first when it is about to expire). */
  accessToken?: string;
}

/** A policy-checked write: the route parses the request, the kit applies the owner's policy, then runs it. */
export interface Action<P = unknown, R = unknown> {
  /** `tweet.post`; stored with held posts, so keep it stable. */
  id: string;
  /** Scope the caller needs. */
  scope: string;
  /** Upstream whose connection the action uses. */
  provider: string;
  /** Re-validates a stored payload before an approved action runs. */
  input: z.ZodType<P>;
  /** The text content rules look at and the owner reads before approving. */
  text(payload: P): string;
  /**
   * Performs the write upstream. Errors should be AppErrors from the plugin's table (no upstream secret in them).
   * `deps` carries the server's config (upstream base URLs, UPSTREAM_TIMEOUT_MS): plugins are plain module objects,
   * so this is how an action reaches them without module state. Callers (the kit, runApproved) always pass it.
   */
  run(payload: P, access: UpstreamAccess, deps: ActionDeps): Promise<R>;
}

/** What `kit.act` did with an action: ran it, or left it waiting for the owner's approval. */
export type ActionOutcome<R = unknown> =
  { status: 'done'; result: R } | { status: 'pending_approval'; approval: { id: string; action: string; created_at: string } };

/** Hints an MCP client may show its user (MCP tool annotations); never used to authorize anything. */
export interface ToolAnnotations {
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

/**
 * An MCP tool (docs/architecture.md#mcp): one thing an agent can do, run in-process for the caller the request's
 * token verified, through the same kit as the plugin's routes, so scope, owner, policy, the vault and the access log
 * apply exactly as at /api. The MCP server lists every tool the registry holds; a plugin needs no MCP code.
 */
export interface Tool<I extends z.ZodObject = z.ZodObject, O extends z.ZodObject = z.ZodObject> {
  /** `post_tweet`: lower-case letters, digits, `_` and `-`; unique on the server. */
  name: string;
  title: string;
  /** What it does and when to use it, in words an agent can act on (the scope is added by the server). */
  description: string;
  /** The scope the caller's token must carry; without it the call is refused with 403 insufficient_scope. */
  scope: string;
  /** The arguments (validated before `call` runs) and the structured result. */
  input: I;
  output: O;
  annotations?: ToolAnnotations;
  /** Errors are thrown as AppErrors, as in routes; the server turns them into error results with the same codes. */
  call(args: z.output<I>, call: CallContext, kit: PluginKit): Promise<z.input<O>>;
}

/** A tool with its arguments and result typed from its own schemas. */
export const defineTool = <I extends z.ZodObject, O extends z.ZodObject>(tool: Tool<I, O>): Tool => tool;

/** What the resource server gives a plugin's routes and tools (implemented in src/resource/kit.ts). */
export interface PluginKit {
  config: Config;
  logger: Logger;
  connections: ConnectionStore;
  /** Route stage: 403 insufficient_scope unless the token carries `scope`. */
  requireScope(scope: string): RouterMiddleware<ResourceState>;
  /** The caller's owner's connection to `provider`, opened; 409 `not_connected` / `reconnect_required` otherwise. */
  connection(call: CallContext, provider: string): Promise<UpstreamAccess>;
  /**
   * Applies the grant's policy to an action and runs it, in the order of `perform`; refusals are thrown (403 with a
   * stable `policy_*` code), a held action is returned as `pending_approval`. For tools; routes use `perform`.
   */
  act<R = unknown>(call: CallContext, actionId: string, payload: unknown): Promise<ActionOutcome<R>>;
  /**
   * Applies the grant's policy to an action and runs it: 403 with a stable `policy_*` code when refused, 202 with a
   * held id when the owner approves posts first, else the action's result (status 201 unless `status` is given).
   */
  perform<P>(ctx: ApiContext, actionId: string, payload: P, options?: { status?: number }): Promise<void>;
}

export type { Connection };

import type Provider from 'oidc-provider';
import type { AdapterPayload } from 'oidc-provider';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { coalesce } from '../db/coalesce.js';
import type { ApiCaller } from '../plugins/plugin.js';
import type { ConnectionRow } from '../connections/store.js';
import { attachSnapshot } from './call-snapshot.js';
import { digestOf } from '../db/at-rest-keys.js';
import type { Act } from '../grants/delegations.js';
import { audienceOf } from '../provider/audience.js';

/**
 * What one round trip returns for a presented token: its row, its grant's row and its owner, if they exist. For a
 * client-credentials token of an agent service, the grant and owner are the agent's (agent_services).
 */
interface Row {
  id: string;
  model: 'AccessToken' | 'ClientCredentials';
  token: AdapterPayload;
  grant: AdapterPayload | null;
  account_found: boolean;
  /** The grant's policy and the owner's connections, read in the same statement (src/resource/call-snapshot.ts). */
  policy: unknown;
  connections: ConnectionRow[] | null;
  disabled: boolean;
  /** For a client-credentials token of an agent service (src/agents/agent-services.ts): its owner and grant. */
  service_account: string | null;
  service_grant: string | null;
  /** The agent's client is not disabled (a deleted one has no agent_services row at all). */
  service_enabled: boolean | null;
  /** For an exchanged token (src/provider/token-exchange.ts): its chain, and whether every grant above still exists. */
  root_grant: string | null;
  parent_grant: string | null;
  parent_client: string | null;
  act: Act | null;
  ancestors_live: boolean;
}

interface TokenModel {
  verify(stored: AdapterPayload, options?: { ignoreExpiration?: boolean }): Promise<AdapterPayload>;
  instantiate(payload: AdapterPayload): TokenLike;
}

interface TokenLike {
  accountId?: string;
  clientId: string;
  grantId?: string;
  scope?: string;
  aud?: string | string[];
  jkt?: string;
  'x5t#S256'?: string;
  expiresWithSession?: boolean;
  sessionUid?: string;
  /** A Grant's scopes per resource indicator. */
  resources?: Record<string, string>;
}

/**
 * Turns a bearer value into the caller it stands for, or undefined. The rows are read with one statement for every
 * check that needs storage (the token, its Grant, its owner), batched across concurrent requests (src/db/coalesce.ts:
 * not a cache, each request reads storage as it was at its call or later). The stored payloads are then verified
 * by oidc-provider's own models, exactly as `AccessToken.find` and `Grant.find` verify them.
 *
 * AccessToken, ClientCredentials and Grant live in Postgres with or without Redis (adapters/index.ts); a Session a
 * token may be bound to is read through oidc-provider, wherever it lives. Any storage error propagates: the caller
 * answers 503 and authorizes nothing.
 */
export class BearerTokens {
  private readonly load = coalesce((ids: string[]) => this.loadMany(ids));

  /**
   * `audience`: the resource whose tokens these are (RFC 8707), the resource API's RESOURCE_URL unless another is
   * named (the MCP server's MCP_URL). A token for any other audience is refused.
   */
  constructor(
    private readonly provider: Provider,
    private readonly db: Database,
    private readonly config: Pick<Config, 'RESOURCE_URL'>,
    private readonly audience: string = config.RESOURCE_URL,
  ) {}

  /** `proofKey`: the RFC 7638 thumbprint of the DPoP proof's key that came with the token, if it came with the DPoP scheme. */
  async verify(value: string, proofKey?: string): Promise<ApiCaller | undefined> {
    const row = await this.load(value);
    if (!row) return undefined;
    const model = (row.model === 'AccessToken' ? this.provider.AccessToken : this.provider.ClientCredentials) as unknown as TokenModel;
    const token = await verified(model, row.token);
    // Expired (oidc-provider's own expiry check), or a row of another kind than it claims.
    if (!token || token.clientId === undefined) return undefined;
    // RFC 8707: a token for another audience (another resource, the userinfo endpoint) is not ours to accept.
    if (!audienceOf(token.aud).includes(this.audience)) return undefined;
    // RFC 9449 §7.1: a DPoP-bound token (cnf.jkt) is good only with a proof made with that key, an unbound one only
    // as Bearer (threat model J5). An mTLS-bound token (x5t#S256) cannot be proven here at all.
    if (token.jkt !== proofKey || token['x5t#S256']) return undefined;
    const scopes = new Set((token.scope ?? '').split(' ').filter(Boolean));

    if (row.model === 'ClientCredentials' && row.service_account) return this.agentServiceCaller(row, token, scopes);
    if (row.model === 'ClientCredentials') {
      // No grant and no owner; the client itself must still exist (a deleted client's tokens are dead, F5).
      if (!(await this.provider.Client.find(token.clientId))) return undefined;
      return { accountId: '', clientId: token.clientId, grantId: '', scopes, machine: true };
    }

    // The Grant is what the owner revokes (console, app revocation, a replayed code): gone means dead now (C4, C5).
    const grant = row.grant && (await verified(this.provider.Grant as unknown as TokenModel, row.grant));
    if (!grant || !token.grantId || grant.accountId !== token.accountId || grant.clientId !== token.clientId) return undefined;
    // A disabled or deleted owner's tokens stop working (threat model C6).
    if (!row.account_found || row.disabled || !token.accountId) return undefined;
    if (token.expiresWithSession && !(await this.sessionStillHolds(token))) return undefined;
    // An exchanged token works only while every grant it was narrowed from still exists (revoking one revokes all below,
    // src/grants/revoke.ts; this holds even before that finishes), and acts under its root grant's policy and limit.
    if (!row.ancestors_live) return undefined;
    const caller: ApiCaller = { accountId: token.accountId, clientId: token.clientId, grantId: token.grantId, scopes };
    if (row.root_grant && row.parent_grant && row.parent_client && row.act) {
      caller.policyGrantId = row.root_grant;
      caller.delegation = { act: row.act, parentGrantId: row.parent_grant, parentClientId: row.parent_client, rootGrantId: row.root_grant };
    }
    attachSnapshot(caller, { policy: row.policy, connections: row.connections ?? [] });
    return caller;
  }

  /**
   * An agent service's client-credentials token acts for the owner who registered the agent, under the agent's
   * grant, exactly like an app's token under its grant: the grant must still be the owner's and this client's (the
   * owner revokes it to stop the agent), the owner must not be disabled, and the client must not be disabled. Its
   * scopes are those the token carries that the grant still holds.
   */
  private async agentServiceCaller(row: Row, token: TokenLike, scopes: Set<string>): Promise<ApiCaller | undefined> {
    const grant = row.grant && (await verified(this.provider.Grant as unknown as TokenModel, row.grant));
    if (!grant || !row.service_grant || grant.accountId !== row.service_account || grant.clientId !== token.clientId) return undefined;
    if (!row.account_found || row.disabled || !row.service_enabled) return undefined;
    // The owner chose the agent's scopes once, recorded for the resource API; they hold at every resource of ours.
    const granted = new Set((grant.resources?.[this.audience] ?? grant.resources?.[this.config.RESOURCE_URL] ?? '').split(' '));
    const caller: ApiCaller = {
      accountId: row.service_account,
      clientId: token.clientId,
      grantId: row.service_grant,
      scopes: new Set([...scopes].filter((s) => granted.has(s))),
    };
    attachSnapshot(caller, { policy: row.policy, connections: row.connections ?? [] });
    return caller;
  }

  /** oidc-provider's own rule for session-bound tokens (AccessToken.find): the session and its grant must remain. */
  private async sessionStillHolds(token: TokenLike): Promise<boolean> {
    if (!token.sessionUid) return false;
    const session = await this.provider.Session.findByUid(token.sessionUid);
    return Boolean(session && session.accountId === token.accountId && session.grantIdFor(token.clientId) === token.grantId);
  }

  /**
   * `values` are presented bearer values; rows are keyed by their digest (src/db/at-rest-keys.ts), one hash each: access
   * and client-credentials tokens share a domain, so one digest finds either (docs/threat-model.md J2).
   */
  private async loadMany(values: string[]): Promise<(Row | undefined)[]> {
    const keys = values.map((value) => digestOf('AccessToken', value));
    // Each token with its grant, owner, agent service, delegation chain, policy and connections, in one statement whose
    // plan is kept once the table is large (migrations/021_kept_bearer_plans.sql).
    const { rows } = await this.db.query<Row>('SELECT * FROM oauth3_find_bearer_tokens($1::text[])', [[...new Set(keys)]]);
    const found = new Map(rows.map((row) => [row.id, row]));
    // Callers presenting the same token in one batch share its row, read-only: oidc-provider's verify and instantiate
    // copy what they keep, the connection rows are copied when adopted, and the policy is parsed into a new object.
    return keys.map((key) => found.get(key));
  }
}

async function verified(model: TokenModel, stored: AdapterPayload): Promise<TokenLike | undefined> {
  try {
    return model.instantiate(await model.verify(stored));
  } catch {
    return undefined;
  }
}

import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { EventLog } from '../accounts/events.js';
import type { PolicyStore } from '../policies/policy.js';
import { AppError } from '../errors.js';
import { ClientStore } from '../clients/store.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { agentName, resourceScopeList } from '../grants/agent-tokens.js';
import { revokeGrant } from '../grants/revoke.js';

/** Enough for every agent an owner runs; a bound on what one signed-in browser can make the server store. */
export const MAX_AGENT_SERVICES = 50;

/** What the owner asks for, against the scopes this server knows. */
export const newAgentServiceSchema = (catalog: ScopeCatalog) =>
  z.object({
    name: agentName,
    scopes: resourceScopeList(catalog),
  });
export type NewAgentService = z.input<ReturnType<typeof newAgentServiceSchema>>;

export interface AgentService {
  clientId: string;
  name: string;
  grantId: string;
  scopes: string[];
  createdAt: Date;
  /** The newest resource API call the agent made for the owner (the access log's `api.call` rows). */
  lastUsedAt?: Date;
}

interface Row {
  client_id: string;
  name: string;
  grant_id: string;
  scopes: string[];
  created_at: Date;
  last_used_at: Date | null;
}

const fromRow = (r: Row): AgentService => ({
  clientId: r.client_id,
  name: r.name,
  grantId: r.grant_id,
  scopes: r.scopes,
  createdAt: new Date(r.created_at),
  ...(r.last_used_at ? { lastUsedAt: new Date(r.last_used_at) } : {}),
});

/** "Last used" is the newest `api.call` of the agent in the owner's access log (index events_account_client). */
const SELECT = `SELECT s.client_id, s.name, s.grant_id, s.scopes, s.created_at,
  (SELECT max(e.created_at) FROM events e WHERE e.account_id = s.account_id AND e.client_id = s.client_id AND e.kind = 'api.call') AS last_used_at
  FROM agent_services s`;

/** Who asked, for the access log. */
export interface Actor {
  accountId: string;
  ip?: string;
}

/**
 * Agent services an owner registers for their own account. Each is a confidential client that may
 * use only client_credentials and only the scopes the owner picked (its `scope` metadata, so oidc-provider answers
 * invalid_scope for any other), plus a Grant of the owner to that client for those scopes. The resource API treats
 * its tokens as acting for the owner under that grant (src/resource/tokens.ts), so the owner's limits, access log,
 * daily counts and held posts apply as for any app. Revoking the grant revokes the agent (src/grants/revoke.ts
 * deletes its client), wherever it is revoked from.
 */
export class AgentServices {
  /** What the owner may ask for, against this server's scopes. */
  readonly schema: ReturnType<typeof newAgentServiceSchema>;

  constructor(
    private readonly provider: Provider,
    private readonly db: Database,
    private readonly config: Pick<Config, 'RESOURCE_URL'>,
    private readonly events: EventLog,
    private readonly policies: PolicyStore,
    private readonly clients: ClientStore,
    scopes: ScopeCatalog,
  ) {
    this.schema = newAgentServiceSchema(scopes);
  }

  /** Creates the client, the owner's grant and the console row; the secret is returned here and never again (F2). */
  async register(actor: Actor, input: NewAgentService): Promise<{ service: AgentService; clientSecret: string }> {
    const { name, scopes } = this.schema.parse(input);
    const { rows: counted } = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM agent_services WHERE account_id = $1', [
      actor.accountId,
    ]);
    if ((counted[0]?.n ?? 0) >= MAX_AGENT_SERVICES) {
      throw new AppError('too_many_agents', 409, `You have ${MAX_AGENT_SERVICES} agents already: revoke one you no longer use first.`);
    }

    const { client, clientSecret } = await this.clients.add({ name, grantTypes: ['client_credentials'], scope: scopes.join(' ') });
    if (!clientSecret) throw new Error('an agent service client was created without a secret');
    try {
      // What the owner approves here: this client, for exactly these scopes of the resource API.
      const grant = new this.provider.Grant({ accountId: actor.accountId, clientId: client.clientId });
      grant.addResourceScope(this.config.RESOURCE_URL, scopes.join(' '));
      const grantId = await grant.save();
      const { rows } = await this.db.query<Row>(
        `INSERT INTO agent_services (client_id, account_id, grant_id, name, scopes) VALUES ($1, $2, $3, $4, $5)
         RETURNING client_id, name, grant_id, scopes, created_at, NULL::timestamptz AS last_used_at`,
        [client.clientId, actor.accountId, grantId, name, JSON.stringify(scopes)],
      );
      const service = fromRow(rows[0]!);
      await this.events.record({
        kind: 'agent.registered',
        accountId: actor.accountId,
        clientId: service.clientId,
        grantId,
        ip: actor.ip ?? null,
        detail: { name, scopes },
      });
      return { service, clientSecret };
    } catch (error) {
      // No half-made agent: a client the owner cannot see could not be revoked either. Its grant goes with it.
      await this.clients.remove(client.clientId);
      throw error;
    }
  }

  async list(accountId: string): Promise<AgentService[]> {
    const { rows } = await this.db.query<Row>(
      `${SELECT} WHERE s.account_id = $1 ORDER BY s.created_at DESC, s.client_id LIMIT ${MAX_AGENT_SERVICES * 2}`,
      [accountId],
    );
    return rows.map(fromRow);
  }

  /** This owner's agent, or undefined for an unknown client id or another owner's (never told apart). */
  async find(accountId: string, clientId: string): Promise<AgentService | undefined> {
    const { rows } = await this.db.query<Row>(`${SELECT} WHERE s.client_id = $1 AND s.account_id = $2`, [clientId, accountId]);
    return rows[0] && fromRow(rows[0]);
  }

  /**
   * The grant goes first, so every token of the agent fails on its next request (src/resource/tokens.ts); then the
   * client and its tokens, so new client_credentials requests get invalid_client.
   */
  async revoke(actor: Actor, service: AgentService): Promise<void> {
    await revokeGrant(this.provider, this.db, service.grantId);
    // revokeGrant deleted the client already; this also catches an agent whose grant had expired or was missing.
    await this.clients.remove(service.clientId);
    await this.policies.remove(service.grantId);
    await this.events.record({
      kind: 'agent.revoked',
      accountId: actor.accountId,
      clientId: service.clientId,
      grantId: service.grantId,
      ip: actor.ip ?? null,
      detail: { name: service.name },
    });
  }
}

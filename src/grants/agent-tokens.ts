import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { resourceServerInfo } from '../provider/provider.js';
import { AGENT_CLIENT_ID } from '../provider/first-party.js';
import { revokeGrant } from './revoke.js';

export const LIFETIME_HOURS = { min: 1, max: 720, default: 24 } as const;
export const AGENT_TOKEN_RESOURCES = ['api', 'mcp'] as const;
export type AgentTokenResource = (typeof AGENT_TOKEN_RESOURCES)[number];

/** The name an owner gives an agent (token or service): one short line they recognise. */
export const agentName = z
  .string()
  .trim()
  .min(1)
  .max(60)
  .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

/** The resource scopes an owner grants an agent, each once, against the scopes this server knows. */
export const resourceScopeList = (catalog: ScopeCatalog) =>
  z
    .array(z.string().max(64))
    .min(1)
    .max(50)
    .refine((scopes) => scopes.every((s) => catalog.isResourceScope(s)), 'must be scopes of the resource API')
    .transform((scopes) => [...new Set(scopes)]);

/** What the owner asks for, against the scopes this server knows. */
export const newAgentTokenSchema = (catalog: ScopeCatalog) =>
  z.object({
    name: agentName,
    scopes: resourceScopeList(catalog),
    lifetime_hours: z.number().int().min(LIFETIME_HOURS.min).max(LIFETIME_HOURS.max).default(LIFETIME_HOURS.default),
    /** Where the agent uses it: the resource API (`api`) or the MCP server (`mcp`); its audience (RFC 8707). */
    resource: z.enum(AGENT_TOKEN_RESOURCES).default('api'),
  });
export type NewAgentToken = z.input<ReturnType<typeof newAgentTokenSchema>>;

export interface AgentToken {
  id: string;
  name: string;
  grantId: string;
  scopes: string[];
  resource: AgentTokenResource;
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt?: Date;
  revokedAt?: Date;
}

interface Row {
  id: string;
  name: string;
  grant_id: string;
  scopes: string[];
  resource: AgentTokenResource;
  created_at: Date;
  expires_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const fromRow = (r: Row): AgentToken => ({
  id: r.id,
  name: r.name,
  grantId: r.grant_id,
  scopes: r.scopes,
  resource: r.resource,
  createdAt: new Date(r.created_at),
  expiresAt: new Date(r.expires_at),
  ...(r.last_used_at ? { lastUsedAt: new Date(r.last_used_at) } : {}),
  ...(r.revoked_at ? { revokedAt: new Date(r.revoked_at) } : {}),
});

/**
 * Tokens an owner mints for their own agents. Each is an ordinary opaque access token for the resource API under a
 * grant of its own (client AGENT_CLIENT_ID), so resource servers verify it like any other token and revoking the
 * grant kills it. Only metadata is kept in agent_tokens: the value is returned once, at creation.
 */
export class AgentTokens {
  /** What the owner may ask for, against this server's scopes. */
  readonly schema: ReturnType<typeof newAgentTokenSchema>;

  constructor(
    private readonly provider: Provider,
    private readonly db: Database,
    private readonly config: Pick<Config, 'RESOURCE_URL' | 'MCP_URL' | 'ACCESS_TOKEN_TTL'>,
    private readonly scopes: ScopeCatalog,
  ) {
    this.schema = newAgentTokenSchema(scopes);
  }

  async create(accountId: string, input: NewAgentToken): Promise<{ token: string; agentToken: AgentToken }> {
    const { name, scopes, lifetime_hours: hours, resource } = this.schema.parse(input);
    const audience = resource === 'mcp' ? this.config.MCP_URL : this.config.RESOURCE_URL;
    const lifetime = hours * 3600;
    const client = await this.provider.Client.find(AGENT_CLIENT_ID);
    if (!client) throw new Error(`the static client ${AGENT_CLIENT_ID} is not registered`);

    // The grant is what the owner approves here, for exactly these scopes and no longer than the token.
    const grant = new this.provider.Grant({ accountId, clientId: AGENT_CLIENT_ID, expiresIn: lifetime } as never);
    grant.addResourceScope(audience, scopes.join(' '));
    const grantId = await grant.save();

    try {
      const resourceServer = new this.provider.ResourceServer(audience, resourceServerInfo(this.config, this.scopes, lifetime, audience));
      const accessToken = new this.provider.AccessToken({
        accountId,
        client,
        grantId,
        gty: 'agent_token',
        resourceServer,
        scope: scopes.join(' '),
        // Not tied to the browser session that minted it: the agent keeps working after the owner signs out.
        expiresWithSession: false,
        expiresIn: lifetime,
      });
      const token = await accessToken.save();
      const expiresAt = Math.floor(Date.now() / 1000) + lifetime;
      const { rows } = await this.db.query<Row>(
        `INSERT INTO agent_tokens (id, account_id, name, grant_id, scopes, resource, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7)) RETURNING *`,
        [`agt_${randomBytes(16).toString('base64url')}`, accountId, name, grantId, JSON.stringify(scopes), resource, expiresAt],
      );
      return { token, agentToken: fromRow(rows[0]!) };
    } catch (error) {
      // No half-made token: without its console row the owner could neither see nor revoke it.
      await revokeGrant(this.provider, this.db, grantId);
      throw error;
    }
  }

  async list(accountId: string): Promise<AgentToken[]> {
    const { rows } = await this.db.query<Row>('SELECT * FROM agent_tokens WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT 500', [
      accountId,
    ]);
    return rows.map(fromRow);
  }

  /** This owner's token, or undefined for an unknown id or another owner's (never told apart). */
  async find(accountId: string, id: string): Promise<AgentToken | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM agent_tokens WHERE id = $1 AND account_id = $2', [id, accountId]);
    return rows[0] && fromRow(rows[0]);
  }

  async revoke(token: AgentToken): Promise<void> {
    await revokeGrant(this.provider, this.db, token.grantId);
  }

  /** A resource server accepted one of the tokens of this grant: the owner sees when the agent last used it. */
  async touch(grantId: string): Promise<void> {
    await this.db.query('UPDATE agent_tokens SET last_used_at = now() WHERE grant_id = $1 AND revoked_at IS NULL', [grantId]);
  }
}

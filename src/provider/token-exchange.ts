import Provider, { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import validateDpop from 'oidc-provider/lib/helpers/validate_dpop.js';
import { applyDpopBinding } from 'oidc-provider/lib/helpers/grant_common.js';
import { checkDpopRequired } from 'oidc-provider/lib/helpers/sender_constraints.js';
import { findAccount } from 'oidc-provider/lib/helpers/grant_source.js';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { GrantDelegations, type Act, type Delegation } from '../grants/delegations.js';
import { revokeGrant } from '../grants/revoke.js';
import { PolicyStore } from '../policies/policy.js';
import { audienceOf } from './audience.js';

/** RFC 8693 §2.1. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3: the only token type oauth3 takes and issues. */
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** The `gty` of exchanged access tokens. */
export const EXCHANGED = 'token_exchange';

/**
 * The request's parameters. `expires_in` (seconds) is oauth3's name for the lifetime asked for; RFC 8693 has none. It is
 * capped at what the subject token has left. `resource` and `audience` may each come more than once (RFC 8693 §2.1),
 * but an oauth3 token has exactly one audience, so together they must name one.
 */
const PARAMETERS = [
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'requested_token_type',
  'scope',
  'resource',
  'audience',
  'expires_in',
];

const Text = z.string().min(1).max(4096);
const Targets = z.union([Text, z.array(Text)]).optional();
const Request = z.object({
  subject_token: Text,
  subject_token_type: Text,
  actor_token: Text.optional(),
  actor_token_type: Text.optional(),
  requested_token_type: Text.optional(),
  scope: z.string().max(2000).optional(),
  resource: Targets,
  audience: Targets,
  expires_in: z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/)
    .transform(Number)
    .optional(),
});

/** What an exchanged token carries besides oidc-provider's own fields: introspection prints it (RFC 8693 §4.1). */
export interface ExchangeExtra {
  act: Act;
  /** The client of the token it was exchanged from (for the first exchange of a chain, the same app). */
  parent_client_id: string;
}

interface TokenLike {
  accountId?: string;
  clientId: string;
  grantId?: string;
  scope?: string;
  aud?: string | string[];
  exp?: number;
  jkt?: string;
  'x5t#S256'?: string;
  kind: string;
  extra?: Partial<ExchangeExtra>;
  isValid?: boolean;
}

export interface TokenExchangeDeps {
  config: Pick<Config, 'RESOURCE_URL' | 'MCP_URL' | 'ACCESS_TOKEN_TTL' | 'TOKEN_EXCHANGE_MAX_DEPTH'>;
  db: Database;
  scopes: ScopeCatalog;
  logger: Logger;
  /** oidc-provider's description of one of our resources for a token of this lifetime (provider.ts resourceServerInfo). */
  resourceServer: (lifetime: number, audience: string) => ResourceServer;
}

/**
 * RFC 8693 token exchange with attenuation (docs/architecture.md#token-exchange): a client holding one of its owner's
 * access tokens trades it for a strictly narrower one to hand to a sub-agent: fewer or the same scopes, the same or a
 * narrower audience, no later expiry, at most TOKEN_EXCHANGE_MAX_DEPTH exchanges deep. The new token lives in a grant of
 * its own, recorded in grant_delegations under its parent's, so revoking any grant above takes it along
 * (src/grants/revoke.ts) and the root grant's policy and daily limit count for it (src/resource/tokens.ts). The
 * token may go to another client only where that policy's delegate_to lists it.
 *
 * Runs inside oidc-provider's token endpoint, after client authentication and its check that the client registered
 * this grant type.
 */
export function registerTokenExchange(provider: Provider, deps: TokenExchangeDeps): void {
  const delegations = new GrantDelegations(deps.db);
  const policies = new PolicyStore(deps.db);
  provider.registerGrantType(
    TOKEN_EXCHANGE,
    (ctx: KoaContextWithOIDC) => exchange(provider, deps, delegations, policies, ctx),
    PARAMETERS,
    ['resource', 'audience'],
  );
}

async function exchange(
  provider: Provider,
  deps: TokenExchangeDeps,
  delegations: GrantDelegations,
  policies: PolicyStore,
  ctx: KoaContextWithOIDC,
) {
  const { config } = deps;
  const client = ctx.oidc.client!;
  const parsed = Request.safeParse(ctx.oidc.params);
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path.join('.') ?? 'request';
    throw new errors.InvalidRequest(`${field} is missing or malformed`);
  }
  const params = parsed.data;
  // RFC 8693 §2.2.2: a token type the server does not take is invalid_request.
  if (params.subject_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest(`subject_token_type must be ${ACCESS_TOKEN_TYPE}`);
  if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE)
    throw new errors.InvalidRequest(`requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
  if ((params.actor_token === undefined) !== (params.actor_token_type === undefined))
    throw new errors.InvalidRequest('actor_token and actor_token_type go together');
  if (params.actor_token_type !== undefined && params.actor_token_type !== ACCESS_TOKEN_TYPE)
    throw new errors.InvalidRequest(`actor_token_type must be ${ACCESS_TOKEN_TYPE}`);

  // The subject: a live access token of this very client (or of an app whose owner let it hand access to this one,
  // below), under a live grant of an owner who is not disabled. Anything else (expired, revoked, another app's, an ID
  // or refresh token, garbage) is invalid_grant, as RFC 6749 §5.2 names a presented grant that is not valid; no detail
  // says which, so the answer reveals nothing about other apps' tokens.
  const refuse = () => new errors.InvalidGrant('subject_token is not a valid access token of this client');
  const subject = (await provider.AccessToken.find(params.subject_token)) as unknown as TokenLike | undefined;
  if (!subject?.isValid || !subject.grantId || !subject.accountId) throw refuse();
  // Another app's token only where the owner listed this client in the delegate_to of the limits that govern it (its
  // chain's root grant): the owner, not the apps, decides who may receive their access.
  if (subject.clientId !== client.clientId) {
    const policy = await policies.get(await policies.governing(subject.grantId));
    if (!policy.delegate_to.includes(client.clientId)) throw refuse();
  }
  // An mTLS-bound token cannot be proven here; a DPoP-bound one only with a proof by its own key (RFC 9449 §7.1), so a
  // copy of a public client's bound token cannot be traded for one bound to the thief's key.
  if (subject['x5t#S256']) throw refuse();
  const dPoP = (await validateDpop(provider, ctx)) as { thumbprint: string } | undefined;
  if (subject.jkt && subject.jkt !== dPoP?.thumbprint) throw new errors.InvalidGrant('subject_token needs a DPoP proof by its key');
  checkDpopRequired(provider, ctx, dPoP);

  const parentGrant = await provider.Grant.find(subject.grantId);
  if (!parentGrant || parentGrant.accountId !== subject.accountId || parentGrant.clientId !== subject.clientId) throw refuse();
  // oidc-provider's findAccount (provider.ts): undefined for a disabled or deleted owner.
  const account = await findAccount(provider, ctx, subject.accountId, subject);
  if (!account) throw refuse();
  ctx.oidc.entity('Account', account);

  const parent = await delegations.of(subject.grantId);
  if (parent && !(await allLive(deps.db, parent.ancestors))) throw refuse();
  const depth = (parent?.depth ?? 0) + 1;
  if (depth > config.TOKEN_EXCHANGE_MAX_DEPTH)
    throw new errors.InvalidGrant(`a token may be exchanged at most ${config.TOKEN_EXCHANGE_MAX_DEPTH} times in a chain`);

  // Audience: one of our two resources, among the subject's.
  const parentAudiences = audienceOf(subject.aud).filter((a) => a === config.RESOURCE_URL || a === config.MCP_URL);
  const asked = [...new Set([...audienceOf(params.resource), ...audienceOf(params.audience)])];
  if (asked.length > 1) throw new errors.InvalidTarget('an exchanged token has exactly one audience');
  const audience = asked[0] ?? (parentAudiences.length === 1 ? parentAudiences[0] : undefined);
  if (!audience || !parentAudiences.includes(audience)) throw new errors.InvalidTarget('the audience must be one of the subject token');

  // Scopes: a subset of what the subject token carries and its grant still holds for that audience.
  const held = new Set((subject.scope ?? '').split(' ').filter(Boolean));
  const stillGranted = new Set((parentGrant.getResourceScopeFiltered(audience, [...held]) ?? '').split(' ').filter(Boolean));
  const available = [...held].filter((s) => stillGranted.has(s) && deps.scopes.isResourceScope(s));
  const requested = params.scope === undefined ? available : [...new Set(params.scope.split(' ').filter(Boolean))];
  const extra = requested.filter((s) => !available.includes(s));
  if (extra.length) throw new errors.InvalidScope('a scope beyond the subject token was asked for', extra.join(' '));
  if (!requested.length) throw new errors.InvalidScope('no scope to hand on', '');

  // Expiry: never beyond the subject token's.
  const now = Math.floor(Date.now() / 1000);
  const left = (subject.exp ?? now) - now;
  const lifetime = Math.min(params.expires_in ?? config.ACCESS_TOKEN_TTL, left);
  if (lifetime < 1) throw refuse();

  // Who acts (RFC 8693 §4.1): the sub-agent the actor token identifies, else the requesting client; the subject's own
  // chain nests inside.
  const actorClient = params.actor_token ? await actorOf(provider, params.actor_token, subject.accountId) : client.clientId;
  const act: Act = { sub: actorClient, client_id: actorClient, ...(subject.extra?.act ? { act: subject.extra.act } : {}) };

  const grant = new provider.Grant({ accountId: subject.accountId, clientId: client.clientId, expiresIn: lifetime } as never);
  grant.addResourceScope(audience, requested.join(' '));
  const grantId = await grant.save();
  let delegation: Delegation;
  try {
    delegation = await delegations.record(
      {
        grantId,
        parentGrantId: subject.grantId,
        accountId: subject.accountId,
        clientId: client.clientId,
        parentClientId: subject.clientId,
        act,
        scopes: requested,
        audience,
        expiresAt: new Date((now + lifetime) * 1000),
      },
      parent,
    );
    // A revocation of an ancestor that ran while this was being made may have looked for descendants before the row
    // above existed; it destroyed the ancestor's grant first, so looking again now sees that (src/grants/revoke.ts).
    if (!(await allLive(deps.db, delegation.ancestors))) throw refuse();
  } catch (error) {
    await revokeGrant(provider, deps.db, grantId).catch((err: unknown) => deps.logger.warn({ err }, 'could not undo an exchanged grant'));
    throw error;
  }

  const resourceServer = new provider.ResourceServer(audience, deps.resourceServer(lifetime, audience));
  const token = new provider.AccessToken({
    accountId: subject.accountId,
    client,
    grantId,
    gty: EXCHANGED,
    resourceServer,
    scope: requested.join(' '),
    expiresWithSession: false,
    expiresIn: lifetime,
  });
  // Kept by extraTokenClaims (provider.ts) and printed by introspection. The expiry is set here, from the same clock
  // reading as the cap: one taken at save time could land a second after the subject's.
  Object.assign(token, { extra: { act, parent_client_id: subject.clientId } satisfies ExchangeExtra, iat: now, exp: now + lifetime });
  await applyDpopBinding(provider, ctx, dPoP, token);
  ctx.oidc.entity('Grant', grant);
  ctx.oidc.entity('AccessToken', token);
  const value = await token.save();

  // No refresh token: RFC 8693 §2.2.1 makes it optional, and a sub-agent whose token runs out exchanges again, so the
  // parent stays in control of how long the chain lives.
  ctx.body = {
    access_token: value,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: token.tokenType,
    expires_in: token.expiration,
    scope: requested.join(' '),
  };
}

/** Whether every one of these grants still exists and has not expired (one query; grants live in Postgres). */
async function allLive(db: Database, grantIds: string[]): Promise<boolean> {
  const { rows } = await db.query<{ live: number }>(
    `SELECT count(*)::int AS live FROM oidc_models
     WHERE model = 'Grant' AND id = ANY($1::text[]) AND (expires_at IS NULL OR expires_at > now())`,
    [grantIds],
  );
  return rows[0]!.live === new Set(grantIds).size;
}

/**
 * The sub-agent an actor token identifies: its client. The actor token must be a live oauth3 access token (an owner's
 * or an agent service's client-credentials token); one acting for another owner than the subject's is refused.
 */
async function actorOf(provider: Provider, value: string, accountId: string): Promise<string> {
  const found = ((await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value))) as unknown as
    TokenLike | undefined;
  if (!found?.isValid) throw new errors.InvalidGrant('actor_token is not a valid access token');
  if (found.accountId !== undefined && found.accountId !== accountId) throw new errors.InvalidGrant('actor_token acts for another owner');
  return found.clientId;
}

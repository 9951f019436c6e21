import { z } from 'zod';

/**
 * Access-log event kinds in the owner's words. Kinds written by other parts of the system that are not listed
 * here still read well: "passkey.renamed" becomes "Passkey renamed".
 */
const LABELS: Record<string, string> = {
  signin: 'Signed in',
  'signin:failure': 'Sign-in failed',
  signout: 'Signed out',
  'session.signed_out': 'Signed a browser out',
  'session.signed_out_others': 'Signed out other browsers',
  'account.created': 'Account created',
  'account.delete:failure': 'Deleting the account failed',
  'account.delete:security': 'Deleting the account refused',
  'account.deleted': 'Account deleted',
  'passkey.added': 'Passkey added',
  'passkey.added:failure': 'Adding a passkey failed',
  'passkey.renamed': 'Passkey renamed',
  'passkey.removed': 'Passkey removed',
  'passkey.register:failure': 'Creating an account with a passkey failed',
  'passkey.counter_regression': 'Passkey counter went backwards (possible copied passkey)',
  'consent.granted': 'Consent given',
  'consent.denied': 'Consent refused',
  'app.revoked': 'App access revoked',
  'everything.revoked': 'Every app and agent revoked',
  'grant.revoked': 'Access revoked',
  'token.reused': 'Token used twice: access revoked (possible theft)',
  'token.minted': 'Token issued',
  'token.refreshed': 'Token refreshed',
  'token.revoked': 'Token revoked',
  'api.call': 'API call',
  'api.call:failure': 'API call refused',
  'profile.updated': 'Profile updated',
  'connection.added': 'Account connected',
  'connection.removed': 'Account disconnected',
  'connection.needs_relink': 'Connected account needs linking again',
  'limit.daily_reached': 'App reached its daily limit',
  'own_app.saved': 'Own OAuth app saved',
  'own_app.removed': 'Own OAuth app removed',
  'policy.updated': 'App limits changed',
  'action.held': 'Post held for your approval',
  'action.approved': 'Held post approved and sent',
  'action.approved:failure': 'Held post approved, sending failed',
  'action.rejected': 'Held post rejected',
  'telegram.linked': 'Telegram linked',
  'telegram.unlinked': 'Telegram unlinked',
  'telegram.notices_changed': 'Telegram notices changed',
  'agent.registered': 'Agent service registered',
  'agent.revoked': 'Agent service revoked',
  'agent.secret_rotated': 'Agent service secret replaced',
  'developer.app.created': 'App registered (developer portal)',
  'developer.app.updated': 'App details changed (developer portal)',
  'developer.app.deactivated': 'App deactivated (developer portal)',
  'developer.app.reactivated': 'App reactivated (developer portal)',
  'developer.app.deleted': 'App deleted (developer portal)',
  'developer.secret.rotated': 'App secret rotated (developer portal)',
  'developer.secret.revoked': 'Every app secret revoked (developer portal)',
};

function fallback(kind: string): string {
  const words = kind.replace(/[._:-]+/g, ' ').trim();
  return words ? words[0]!.toUpperCase() + words.slice(1) : kind;
}

/** "Signed in", "Sign-in failed", …: the outcome picks a more specific label where one exists. */
export function kindLabel(kind: string, outcome?: string): string {
  return (outcome && outcome !== 'ok' && LABELS[`${kind}:${outcome}`]) || LABELS[kind] || fallback(kind);
}

export function outcomeLabel(outcome: string): string {
  if (outcome === 'ok') return 'Succeeded';
  if (outcome === 'failure') return 'Failed';
  if (outcome === 'security') return 'Security warning';
  return fallback(outcome);
}

/** What was spent and came back, by the grant type of the request that brought it (token.reused). */
const REUSED: Record<string, string> = {
  refresh_token: 'A refresh token',
  authorization_code: 'An authorization code',
  'urn:ietf:params:oauth:grant-type:device_code': 'A device code',
};

/**
 * A sentence in plain words for the events an owner must not misread, such as a replayed refresh token (threat model
 * C7): oidc-provider revokes the grant exactly as an ordinary revocation would, but it means someone else may hold a
 * copy of the app's tokens. Undefined for every other event, whose label says enough.
 */
export function eventSummary(
  e: {
    kind: string;
    client_id: string | null;
    client_name: string | null;
    detail: Record<string, unknown>;
  },
  actors: ActorNames = {},
): string | undefined {
  if (e.kind === 'api.call') return onBehalfOf(e.detail, actors);
  if (e.kind !== 'token.reused') return undefined;
  const app = e.client_name ?? e.client_id ?? 'an app';
  const grantType = e.detail.grant_type;
  const what = (typeof grantType === 'string' ? REUSED[grantType] : undefined) ?? 'A token';
  return (
    `${what} of ${app} was used twice, so it may have been stolen; oauth3 revoked that app's access. ` +
    `If you still use ${app}, connect it again; if this keeps happening, revoke it and check where it keeps its tokens.`
  );
}

/** RFC 8693 §4.1 `act`, as an api.call event's detail carries it: the current actor outermost. */
interface ActLevel {
  sub?: string;
  client_id?: string;
  act?: ActLevel;
}
const Act: z.ZodType<ActLevel> = z.lazy(() =>
  z.object({ sub: z.string().max(500).optional(), client_id: z.string().max(500).optional(), act: Act.optional() }),
);

/** The client ids of an actor chain, the current actor first; at most a few levels are read (depth is capped at 3). */
export function actorChain(detail: Record<string, unknown>): string[] {
  const parsed = Act.safeParse(detail.act);
  const chain: string[] = [];
  for (let level = parsed.success ? parsed.data : undefined; level && chain.length < 10; level = level.act) {
    const id = level.client_id ?? level.sub;
    if (id) chain.push(id);
  }
  return chain;
}

/**
 * Names for the clients of an actor chain (registered name, else the id), and for an exchanged token's grant the
 * client of the app at the root of its tree when the chain does not end with it.
 */
export interface ActorNames {
  names?: Record<string, string>;
  rootClientId?: string;
}

/** What a call did, from its method: "Post by sub-agent …". */
const ACTIONS: Record<string, string> = { GET: 'Read', POST: 'Post', PUT: 'Change', PATCH: 'Change', DELETE: 'Delete', MCP: 'Tool call' };

/**
 * An API call made with an exchanged token (docs/architecture.md#token-exchange), in plain words: "Post by sub-agent
 * Summariser on behalf of agent Newsroom". Undefined for a call made with the app's own token (no `act`).
 */
function onBehalfOf(detail: Record<string, unknown>, { names = {}, rootClientId }: ActorNames): string | undefined {
  const chain = actorChain(detail);
  if (!chain.length) return undefined;
  if (rootClientId && chain[chain.length - 1] !== rootClientId) chain.push(rootClientId);
  const name = (id: string) => names[id] ?? id;
  const action = (typeof detail.method === 'string' && ACTIONS[detail.method]) || 'Call';
  const [actor, ...above] = chain;
  const root = above.pop();
  const helpers = above.map((id) => ` on behalf of sub-agent ${name(id)}`).join('');
  return `${action} by sub-agent ${name(actor!)}${helpers} on behalf of ${root ? `agent ${name(root)}` : 'an app you connected'}`;
}

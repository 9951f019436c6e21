import { html, type SafeHtml } from '../../web/html.js';
import { breakable } from './breakable.js';
import { dayText, timeTag } from '../../web/time.js';

/**
 * An access-log event's detail in plain words: one line per kind ("Passkey “Laptop” renamed to “Work laptop”"), never
 * a `latency_ms: 6` dump. The fields a line does not use are kept out of sight in a "Technical details" disclosure for
 * the curious; the actor chain of an exchanged token (`act`) is the event's summary instead (event-kinds.ts).
 */
type Detail = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() ? v : undefined);
const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const quoted = (v: unknown) => `“${str(v) ?? '?'}”`;
const permissions = (v: unknown) => (list(v).length ? list(v).join(', ') : 'no permissions');
const count = (v: unknown, one: string, many: string) => (typeof v === 'number' ? `${v} ${v === 1 ? one : many}` : `no ${many}`);
const via = (v: unknown) => (v === 'telegram' ? ' from Telegram' : v === 'console' ? ' from the console' : '');

/** Why something failed, from the error code the event carries. */
const REASONS: Record<string, string> = {
  passkey_failed: 'the passkey could not be checked',
  passkey_counter: 'the passkey’s counter went backwards, so it may have been copied',
  passkey_not_yours: 'the passkey belongs to another account',
  account_disabled: 'the account is disabled',
  invalid_request: 'the browser sent something unexpected',
  recent_sign_in_required: 'the sign-in was not recent enough',
};
const why = (v: unknown) => (str(v) ? `Why: ${REASONS[str(v)!] ?? str(v)!.replace(/_/g, ' ')}.` : '');

/** How a token came: by a sign-in's code, a refresh, a device, token exchange, or made in the console. */
const GRANT_TYPES: Record<string, string> = {
  authorization_code: 'after you allowed the app',
  refresh_token: 'by refreshing',
  client_credentials: 'to an agent service',
  'urn:ietf:params:oauth:grant-type:device_code': 'to a device you confirmed',
  'urn:ietf:params:oauth:grant-type:token-exchange': 'by token exchange, to a helper of an app',
  agent_token: 'in the console',
};

const GRACE: Record<string, string> = { '0': 'stopped working at once', '1h': 'works for another hour', '24h': 'works for another day' };

/** What an HTTP status means for the owner, with the error code in words when there is one: "refused (limit reached)". */
function outcomeOf(status: unknown, error: unknown): string {
  if (typeof status !== 'number') return '';
  if (status < 400) return 'done';
  const what = status === 401 || status === 403 || status === 429 ? 'refused' : 'failed';
  const why = str(error)?.replace(/_/g, ' ') ?? (status === 403 ? 'not allowed' : status === 429 ? 'too many calls' : undefined);
  return why ? `${what} (${why})` : what;
}

interface Line {
  text: SafeHtml | string;
  /** The fields the line tells; the others go under "Technical details". */
  uses: string[];
}

const line = (text: SafeHtml | string, ...uses: string[]): Line => ({ text, uses });

const LINES: Record<string, (d: Detail) => Line> = {
  signin: (d) =>
    str(d.reason)
      ? line(why(d.reason), 'reason')
      : line(
          `With passkey ${quoted(d.passkey)}${str(d.browser) ? ` on ${str(d.browser)}` : ''}${d.new_browser === true ? ' (a browser new to this account)' : ''}.`,
          'passkey',
          'browser',
          'new_browser',
        ),
  'account.created': (d) =>
    line(`With passkey ${quoted(d.passkey)}${str(d.browser) ? ` on ${str(d.browser)}` : ''}.`, 'passkey', 'browser'),
  'account.delete': (d) => line(why(d.reason), 'reason'),
  'passkey.register': (d) => line(why(d.reason), 'reason'),
  'passkey.counter_regression': () =>
    line('Someone signed in with a passkey whose counter went backwards: it may have been copied.', 'reason'),
  'session.signed_out': (d) => line(d.current === true ? 'This browser.' : 'Another of your browsers.', 'current'),
  'session.signed_out_others': (d) =>
    line(typeof d.ended === 'number' ? `${d.ended} other ${d.ended === 1 ? 'browser' : 'browsers'} signed out.` : '', 'ended'),
  'passkey.added': (d) => (str(d.reason) ? line(why(d.reason), 'reason') : line(`Passkey ${quoted(d.passkey)}.`, 'passkey')),
  'passkey.renamed': (d) => line(`From ${quoted(d.from)} to ${quoted(d.to)}.`, 'from', 'to'),
  'passkey.removed': (d) => line(`Passkey ${quoted(d.passkey)}.`, 'passkey'),
  'consent.granted': (d) => line(`Allowed: ${permissions(d.scopes)}${d.limits ? ', within the limits you set' : ''}.`, 'scopes', 'limits'),
  'everything.revoked': (d) =>
    line(
      `${count(d.apps, 'app', 'apps')}, ${count(d.agent_services, 'agent service', 'agent services')} and ${count(d.agent_tokens, 'agent token', 'agent tokens')} lost their access${via(d.via)}.`,
      'apps',
      'agent_services',
      'agent_tokens',
      'via',
    ),
  'app.revoked': (d) => line(`Revoked${via(d.via)}.`, 'via'),
  'grant.revoked': (d) => line(d.route === 'revocation' ? 'The app gave up its access itself.' : 'Access ended.', 'route'),
  'token.minted': (d) => tokenLine(d),
  'token.refreshed': (d) => tokenLine(d),
  'token.revoked': (d) => line(`Agent token ${quoted(d.name)}.`, 'name'),
  'api.call': (d) => callLine(d),
  'profile.updated': (d) => line(`Changed: ${list(d.fields).join(', ') || 'nothing'}.`, 'fields'),
  'connection.added': (d) => connectionLine(d),
  'connection.removed': (d) => connectionLine(d),
  'connection.needs_relink': (d) => connectionLine(d),
  'limit.daily_reached': (d) =>
    line(
      `${typeof d.limit === 'number' ? `${d.limit} ${d.limit === 1 ? 'post' : 'posts'} a day` : 'Its daily limit'}, reached on ${str(d.day) ? `${dayText(str(d.day)!)} (UTC)` : 'this day'}.`,
      'limit',
      'day',
    ),
  'own_app.saved': (d) => line(`For ${str(d.title) ?? str(d.provider) ?? 'a provider'}.`, 'provider', 'title'),
  'own_app.removed': (d) => line(`For ${str(d.provider) ?? 'a provider'}.`, 'provider'),
  'policy.updated': () => line('New limits saved; they apply from the app’s next request.'),
  'action.held': (d) =>
    line(
      `${str(d.action) ?? 'An action'}${str(d.provider) ? ` on ${str(d.provider)}` : ''}, waiting in Approvals.`,
      'action',
      'provider',
      'held_id',
    ),
  'action.approved': (d) =>
    line(`${str(d.action) ?? 'The action'}${via(d.via)}.${str(d.error) ? ` ${str(d.error)}` : ''}`, 'action', 'via', 'held_id', 'error'),
  'action.rejected': (d) => line(`${str(d.action) ?? 'The action'}${via(d.via)}.`, 'action', 'via', 'held_id'),
  'telegram.linked': (d) =>
    line(`Telegram ${str(d.username) ? `@${str(d.username)}` : 'account'}${via(d.via)}.`, 'username', 'via', 'telegram_user_id'),
  'telegram.unlinked': (d) =>
    line(`Telegram ${str(d.username) ? `@${str(d.username)}` : 'account'}${via(d.via)}.`, 'username', 'via', 'telegram_user_id'),
  'telegram.notices_changed': (d) =>
    line(
      [
        list(d.switched_on).length && `Switched on: ${list(d.switched_on).join(', ')}.`,
        list(d.switched_off).length && `Switched off: ${list(d.switched_off).join(', ')}.`,
      ]
        .filter(Boolean)
        .join(' '),
      'switched_on',
      'switched_off',
    ),
  'agent.registered': (d) => line(`Agent ${quoted(d.name)}, allowed: ${permissions(d.scopes)}.`, 'name', 'scopes'),
  'agent.revoked': (d) => line(`Agent ${quoted(d.name)}.`, 'name'),
  'agent.secret_rotated': (d) => line(`The old secret ${GRACE[String(d.grace)] ?? `works for ${String(d.grace)}`}.`, 'grace'),
  'developer.secret.rotated': (d) =>
    line(
      str(d.old_works_until) ? html`The old secret works until ${timeTag(str(d.old_works_until), { style: 'absolute' })}.` : '',
      'old_works_until',
      'grace',
    ),
};

function tokenLine(d: Detail): Line {
  const how = GRANT_TYPES[String(d.grant_type)];
  const name = str(d.name) ? `${quoted(d.name)}: ` : '';
  const where = d.resource === 'mcp' ? ' for the MCP server' : '';
  const until = str(d.expires_at) ? html`, until ${timeTag(str(d.expires_at), { style: 'absolute' })}` : '';
  const refresh = d.refresh_token === true ? ', with a refresh token' : '';
  return line(
    html`${name}${permissions(d.scopes)}${where}${until}${refresh}${how ? `; issued ${how}` : ''}.`,
    'name',
    'scopes',
    'resource',
    'expires_at',
    'refresh_token',
    'grant_type',
  );
}

function callLine(d: Detail): Line {
  const what = str(d.tool) ? `Tool ${str(d.tool)}` : `${str(d.method) ?? 'A call to'} ${str(d.path) ?? ''}`.trim();
  const scope = str(d.scope) ? ` with ${str(d.scope)}` : '';
  const outcome = outcomeOf(d.status, d.error);
  return line(`${what}${scope}${outcome ? `: ${outcome}` : ''}.`, 'tool', 'method', 'path', 'scope', 'status', 'error');
}

function connectionLine(d: Detail): Line {
  const provider = str(d.provider) ?? 'An account';
  return line(`${provider}${str(d.label) ? ` ${str(d.label)}` : ''}.`, 'provider', 'label', 'kind', 'connection_id');
}

/** Fields never shown, not even as technical details: the actor chain reads as the event's summary. */
const HIDDEN = new Set(['act']);

const technicalValue = (v: unknown): string =>
  typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : (JSON.stringify(v) ?? '');

/** The sentence for an event (or nothing), and its other fields under "Technical details". */
export function eventDetail(kind: string, detail: Detail): SafeHtml {
  const make = LINES[kind];
  const { text, uses } = make ? make(detail) : line('');
  const rest = Object.entries(detail).filter(
    ([key, v]) => !uses.includes(key) && !HIDDEN.has(key) && v !== null && v !== undefined && v !== '',
  );
  const technical = rest.length
    ? html`<details class="technical"><summary>Technical details</summary><dl>${rest.map(
        ([key, v]) => html`<dt>${key}</dt><dd>${technicalValue(v).slice(0, 300)}</dd>`,
      )}</dl></details>`
    : '';
  return html`${typeof text === 'string' ? breakable(text) : text}${technical}`;
}

import type { ScopeCatalog } from '../../scopes/catalog.js';
import type { ApiCallDoc } from '../plugins/plugin.js';
import { mdCode, mdFence, mdText, shellQuote } from './markdown.js';

/**
 * The skill document: one Markdown file that tells an AI agent how to use one app's access, ready to
 * paste into its instructions. Plain data in, text out: the portal serves it (GET /developers/apps/:id/skill.md).
 * It never holds a secret: the client secret and every token appear only as shell variables the agent fills in.
 */
export type AppKind = 'web' | 'public' | 'agent';

export interface SkillInput {
  issuer: string;
  /** The scopes this server knows, to describe the app's. */
  scopes: ScopeCatalog;
  /** The resource API's URL (RESOURCE_URL), audience of its tokens (RFC 8707). */
  resourceUrl: string;
  /** The MCP server's URL (MCP_URL), audience of the tokens it accepts. */
  mcpUrl: string;
  app: {
    clientId: string;
    name: string;
    kind: AppKind;
    /** The scopes the app may ask for. */
    scopes: string[];
    redirectUris: string[];
    /** The grant types it registered; default the ones its kind gets in the portal. */
    grantTypes?: string[];
  };
  /** The documented resource API calls (PluginRegistry.apiCalls()); the ones the app's scopes allow are listed. */
  calls: ApiCallDoc[];
  /** The MCP server's tools; the ones the app's scopes allow are listed. */
  tools?: readonly SkillTool[];
}

/** One MCP tool as the skill document names it (written by plugins and the operator, never by users). */
export interface SkillTool {
  name: string;
  title: string;
  scope: string;
}

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const DEFAULT_GRANTS: Record<AppKind, string[]> = {
  web: ['authorization_code', 'refresh_token'],
  public: ['authorization_code', 'refresh_token'],
  agent: [DEVICE_GRANT, 'refresh_token', 'client_credentials'],
};
const KIND_NAMES: Record<AppKind, string> = {
  web: 'Confidential web app (authorization code with PKCE; authenticates with a client secret)',
  public: 'Public app (authorization code with PKCE; no client secret)',
  agent: 'Agent service (device authorization and client credentials; authenticates with a client secret)',
};

const isResourceScope = (catalog: ScopeCatalog, scope: string) =>
  (catalog.get(scope)?.kind ?? (scope.startsWith('upstream:') ? 'resource' : 'oidc')) === 'resource';

export function skillDocument(input: SkillInput): string {
  const { app } = input;
  const grants = new Set(app.grantTypes ?? DEFAULT_GRANTS[app.kind]);
  const confidential = app.kind !== 'public';
  const ctx: Ctx = {
    ...input,
    grants,
    confidential,
    // How the token endpoint knows the app: HTTP Basic with the secret (RFC 6749 §2.3.1), or its id alone (public).
    clientAuth: confidential ? '-u "$OAUTH3_CLIENT_ID:$OAUTH3_CLIENT_SECRET"' : '-d client_id="$OAUTH3_CLIENT_ID"',
    resourceScopes: app.scopes.filter((scope) => isResourceScope(input.scopes, scope)),
  };
  return (
    [
      frontMatter(input),
      `# Using oauth3 as “${mdText(app.name)}”`,
      "oauth3 gives apps and AI agents narrow, revocable OAuth 2.1 tokens for an owner's online accounts (X, Telegram and other providers); the owner's own credentials never leave the server.",
      'This file tells you, an agent, how to use the access of one app registered at oauth3. It contains no secret: the client secret and the tokens are shell variables you fill in, and you must never write them into files, logs or messages.',
      appSection(ctx),
      discoverySection(input.issuer),
      environmentSection(ctx),
      tokenSection(ctx),
      scopesSection(input.scopes, app.scopes),
      callsSection(ctx),
      mcpSection(ctx),
      refreshSection(ctx),
      revokeSection(ctx),
      errorsSection(),
    ].join('\n\n') + '\n'
  );
}

interface Ctx extends SkillInput {
  grants: Set<string>;
  confidential: boolean;
  clientAuth: string;
  resourceScopes: string[];
}

/** Agent skill files start with a name and a description (YAML); both built only from safe characters. */
function frontMatter({ app }: SkillInput): string {
  const slug =
    app.clientId
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 48) || 'app';
  return [
    '---',
    `name: oauth3-${slug}`,
    'description: How to get and use oauth3 tokens for this app (discovery, sign-in flow, scopes, API calls, refresh, revocation).',
    '---',
  ].join('\n');
}

function appSection({ app, issuer, resourceUrl, mcpUrl }: Ctx): string {
  return [
    '## This app',
    '| | |\n| --- | --- |',
    `| Name | ${mdText(app.name)} |`,
    `| Client ID | ${mdCode(app.clientId)} |`,
    `| Kind | ${KIND_NAMES[app.kind]} |`,
    `| Issuer | ${mdCode(issuer)} |`,
    `| Resource API | ${mdCode(resourceUrl)} (the audience of its access tokens) |`,
    `| MCP server | ${mdCode(mcpUrl)} (the same actions as MCP tools, for tokens with this audience) |`,
  ].join('\n');
}

function discoverySection(issuer: string): string {
  return `## Discovery

Read the endpoint addresses from the metadata rather than hard-coding them:

- Authorization server metadata (RFC 8414): ${mdCode(`${issuer}/.well-known/oauth-authorization-server`)}
- OpenID Connect discovery: ${mdCode(`${issuer}/.well-known/openid-configuration`)}
- Protected resource metadata (RFC 9728): ${mdCode(`${issuer}/.well-known/oauth-protected-resource`)}

On this server they are: authorization ${mdCode('/auth')}, token ${mdCode('/token')}, device authorization ${mdCode('/device/auth')}, revocation ${mdCode('/token/revocation')}, introspection ${mdCode('/token/introspection')}, userinfo ${mdCode('/me')}.`;
}

function environmentSection({ issuer, resourceUrl, mcpUrl, app, confidential }: Ctx): string {
  const lines = [
    `export OAUTH3_ISSUER=${shellQuote(issuer)}`,
    `export OAUTH3_API=${shellQuote(resourceUrl)}`,
    `export OAUTH3_MCP=${shellQuote(mcpUrl)}`,
    `export OAUTH3_CLIENT_ID=${shellQuote(app.clientId)}`,
  ];
  if (confidential) lines.push('export OAUTH3_CLIENT_SECRET=…   # from the developer portal, shown once; keep it out of files and logs');
  return `## Settings\n\nThe examples below read these variables (curl and a POSIX shell):\n\n${mdFence('sh', lines.join('\n'))}`;
}

/** The scopes as one space-separated, URL-encoded value, and the resource indicator when a scope needs one. */
function scopeParams({ app, resourceScopes, resourceUrl }: Ctx) {
  const scope = app.scopes.join(' ');
  // RFC 8707: resource scopes are issued in tokens whose audience is the resource API.
  const resource = resourceScopes.length > 0 ? resourceUrl : undefined;
  return { scope, resource };
}

function tokenSection(ctx: Ctx): string {
  const parts = ['## Getting a token'];
  if (ctx.grants.has('authorization_code')) parts.push(codeFlow(ctx));
  if (ctx.grants.has(DEVICE_GRANT)) parts.push(deviceFlow(ctx));
  if (ctx.grants.has('client_credentials')) parts.push(clientCredentials(ctx));
  if (parts.length === 1) parts.push('This app has no grant type that issues tokens. Add one in the developer portal.');
  return parts.join('\n\n');
}

function codeFlow(ctx: Ctx): string {
  const { scope, resource } = scopeParams(ctx);
  const redirectUri = ctx.app.redirectUris[0];
  if (!redirectUri)
    return '### Authorization code with PKCE\n\nThis app has no redirect URI yet. Register one in the developer portal first.';
  const query = [
    `client_id=${encodeURIComponent(ctx.app.clientId)}`,
    'response_type=code',
    `redirect_uri=${encodeURIComponent(redirectUri)}`,
    `scope=${encodeURIComponent(scope)}`,
    ...(resource ? [`resource=${encodeURIComponent(resource)}`] : []),
    'code_challenge=$CHALLENGE',
    'code_challenge_method=S256',
    'state=$STATE',
  ].join('&');
  const exchange = [
    `curl -s ${ctx.clientAuth} \\`,
    '  -d grant_type=authorization_code -d code="$CODE" \\',
    `  --data-urlencode redirect_uri=${shellQuote(redirectUri)} -d code_verifier="$VERIFIER" \\`,
    '  "$OAUTH3_ISSUER/token"',
    '# {"access_token":"…","token_type":"Bearer","expires_in":3600,"scope":"…"' +
      (ctx.app.scopes.includes('offline_access') ? ',"refresh_token":"…"}' : '}'),
  ].join('\n');
  return `### Authorization code with PKCE (the owner signs in and approves)

1. Make a PKCE verifier and its S256 challenge (RFC 7636), and a random state:

${mdFence(
  'sh',
  `VERIFIER=$(openssl rand -base64 60 | tr -dc 'A-Za-z0-9' | cut -c1-64)
CHALLENGE=$(printf %s "$VERIFIER" | openssl dgst -sha256 -binary | openssl base64 | tr '+/' '-_' | tr -d '=')
STATE=$(openssl rand -hex 16)`,
)}

2. Send the owner to this connect link (with the two values filled in). They sign in with a passkey, read what the app asks for and approve:

${mdFence('sh', `echo "$OAUTH3_ISSUER/auth?${query}"`)}

3. The browser comes back to ${mdCode(redirectUri)} with ${mdCode('code')}, ${mdCode('state')} and ${mdCode('iss')}. Check that ${mdCode('state')} is yours and ${mdCode('iss')} equals ${mdCode(ctx.issuer)} (RFC 9207), then exchange the code within a minute:

${mdFence('sh', exchange)}

Use ${mdCode('access_token')} as ${mdCode('$OAUTH3_TOKEN')} below.`;
}

function deviceFlow(ctx: Ctx): string {
  const { scope, resource } = scopeParams(ctx);
  const start = [
    `curl -s ${ctx.clientAuth} --data-urlencode scope=${shellQuote(scope)}${resource ? ` --data-urlencode resource=${shellQuote(resource)}` : ''} \\`,
    '  "$OAUTH3_ISSUER/device/auth"',
    '# {"device_code":"…","user_code":"WDJB-MJHT","verification_uri":"…/device","verification_uri_complete":"…","expires_in":600,"interval":5}',
  ].join('\n');
  const poll = [
    `curl -s ${ctx.clientAuth} \\`,
    '  -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d device_code="$DEVICE_CODE" \\',
    '  "$OAUTH3_ISSUER/token"',
  ].join('\n');
  return `### Device authorization (RFC 8628: the owner approves on their own device)

1. Ask for a user code:

${mdFence('sh', start)}

2. Show the owner ${mdCode('verification_uri_complete')} (a one-click link with the code filled in), or ${mdCode('verification_uri')} and the ${mdCode('user_code')}. They sign in with a passkey and approve the same consent screen as any app.
3. Poll the token endpoint every ${mdCode('interval')} seconds until it answers with tokens:

${mdFence('sh', poll)}

While the owner has not decided it answers 400 ${mdCode('authorization_pending')}; ${mdCode('slow_down')} means wait 5 seconds longer between polls; ${mdCode('access_denied')} means the owner refused and ${mdCode('expired_token')} that the code ran out: start again.`;
}

function clientCredentials(ctx: Ctx): string {
  const { scope, resource } = scopeParams(ctx);
  const call = [
    `curl -s ${ctx.clientAuth} -d grant_type=client_credentials \\\n  --data-urlencode scope=${shellQuote(ctx.resourceScopes.join(' ') || scope)}${resource ? ` --data-urlencode resource=${shellQuote(resource)}` : ''} \\`,
    '  "$OAUTH3_ISSUER/token"',
  ].join('\n');
  return `### Client credentials (the agent acting on its own)

${mdFence('sh', call)}

An agent an owner registered in their console acts for that owner, with only the scopes the owner granted it, until the owner revokes it. Otherwise a client-credentials token acts for no owner, and routes that act for one answer 403 ${mdCode('owner_required')}: use the device flow for those.`;
}

function scopesSection(catalog: ScopeCatalog, scopes: string[]): string {
  const rows = scopes.map((name) => {
    const def = catalog.get(name);
    const what = def ? `${mdText(def.title)}: ${mdText(def.description)}` : 'Not known to this server: the owner will not be asked for it.';
    return `| ${mdCode(name)} | ${def ? def.access : '—'} | ${what} |`;
  });
  return [
    '## Scopes',
    'This app may ask for these scopes; a token carries only those the owner approved.',
    ['| Scope | Kind | What it allows |', '| --- | --- | --- |', ...rows].join('\n'),
  ].join('\n\n');
}

/** A route path's `:name` parameters become shell variables: `/tweet/:id` → `/tweet/$ID`. */
const withVariables = (path: string) => path.replace(/:([a-z_]+)/gi, (_m, name: string) => `$${name.toUpperCase()}`);

function curlFor(call: ApiCallDoc): string {
  const url = `"$OAUTH3_API${withVariables(call.path)}"`;
  const method = call.method === 'GET' || (call.method === 'POST' && call.body) ? '' : ` -X ${call.method}`;
  const body = call.body ? ` -H 'content-type: application/json' \\\n  -d ${shellQuote(JSON.stringify(call.body))}` : '';
  return `curl -s${method} -H "Authorization: Bearer $OAUTH3_TOKEN"${body} ${url}`;
}

function callsSection(ctx: Ctx): string {
  const granted = new Set(ctx.app.scopes);
  const calls = ctx.calls.filter((call) => granted.has(call.scope));
  const parts = [
    '## API calls',
    `Call the resource API at ${mdCode(ctx.resourceUrl)} with ${mdCode('Authorization: Bearer $OAUTH3_TOKEN')} (never in the query string). Each call needs its scope in the token; the owner's limits for this app (posts per day, blocked words, approval first) apply to every write.`,
  ];
  for (const call of calls) {
    parts.push(
      `### ${call.method} ${mdText(call.path)}\n\nScope ${mdCode(call.scope)}. ${call.summary}\n\n${mdFence('sh', curlFor(call))}`,
    );
  }
  for (const scope of ctx.app.scopes.filter((s) => s.startsWith('upstream:'))) {
    const provider = scope.slice('upstream:'.length);
    const call: ApiCallDoc = { method: 'GET', path: `/upstream/${provider}/…`, scope, summary: '' };
    parts.push(
      `### Any method /upstream/${mdText(provider)}/…\n\nScope ${mdCode(scope)}. Calls the owner's account at ${mdText(ctx.scopes.get(scope)?.title ?? provider)} through oauth3, on the paths the operator allowed; the rest of the path and the query are the provider's own API.\n\n${mdFence('sh', curlFor(call).replace('…', 'PATH'))}`,
    );
  }
  if (parts.length === 2) {
    parts.push(
      ctx.app.scopes.includes('openid')
        ? `None of this app's scopes opens a resource API call. With ${mdCode('openid')} (and no resource scope in the request) the token reads the owner's identifier at userinfo:\n\n${mdFence('sh', 'curl -s -H "Authorization: Bearer $OAUTH3_TOKEN" "$OAUTH3_ISSUER/me"\n# {"sub":"…"}')}`
        : "None of this app's scopes opens a resource API call.",
    );
  }
  return parts.join('\n\n');
}

/** The MCP server as the other way in: its audience, the tools this app's scopes allow, and one call. */
function mcpSection(ctx: Ctx): string {
  const granted = new Set(ctx.app.scopes);
  const tools = (ctx.tools ?? []).filter((tool) => granted.has(tool.scope));
  const list = tools.length
    ? [
        '| Tool | Scope | Title |',
        '| --- | --- | --- |',
        ...tools.map((t) => `| ${mdCode(t.name)} | ${mdCode(t.scope)} | ${mdText(t.title)} |`),
      ].join('\n')
    : "None of this app's scopes opens an MCP tool.";
  const call = [
    'curl -s "$OAUTH3_MCP" -H "Authorization: Bearer $OAUTH3_MCP_TOKEN" \\',
    "  -H 'accept: application/json, text/event-stream' -H 'content-type: application/json' \\",
    "  -H 'mcp-protocol-version: 2025-11-25' \\",
    `  -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'`,
  ].join('\n');
  return `## Over MCP instead of the API

An agent that speaks MCP (the Model Context Protocol) can use oauth3's MCP server at ${mdCode(ctx.mcpUrl)} instead of calling the resource API: the same actions, as tools, with the same scopes and the owner's limits. It is stateless Streamable HTTP: send every message as a ${mdCode('POST')} with ${mdCode('Accept: application/json, text/event-stream')}; no session and no ${mdCode('initialize')} are needed before a call.

Its tokens have their own audience: get one as above with ${mdCode('resource')} set to ${mdCode(ctx.mcpUrl)} instead of the API's, and use it as ${mdCode('$OAUTH3_MCP_TOKEN')} below. A token for the API is refused there (401), and an MCP token at the API. An MCP client that supports MCP authorization needs only the URL: it finds the rest at ${mdCode(`${ctx.issuer}/.well-known/oauth-protected-resource/mcp`)}.

${list}

A tool the token lacks the scope for is refused with 403 ${mdCode('insufficient_scope')}, and ${mdCode('WWW-Authenticate')} names the scopes to ask the owner for. The tools and their arguments:

${mdFence('sh', call)}`;
}

function refreshSection(ctx: Ctx): string {
  if (!ctx.grants.has('refresh_token') || !ctx.app.scopes.includes('offline_access')) {
    return `## Refreshing\n\nThis app gets no refresh token${ctx.grants.has('refresh_token') ? ` (it needs the ${mdCode('offline_access')} scope)` : ''}: when the access token expires (${mdCode('expires_in')} seconds), get a new one as above.`;
  }
  return `## Refreshing

The token response holds a ${mdCode('refresh_token')} (because of ${mdCode('offline_access')}). Before the access token expires:

${mdFence('sh', `curl -s ${ctx.clientAuth} -d grant_type=refresh_token -d refresh_token="$OAUTH3_REFRESH_TOKEN" \\\n  "$OAUTH3_ISSUER/token"`)}

Refresh tokens rotate: keep the new one from each answer and drop the old. Using an old one again revokes the whole grant, and the owner must approve the app again.`;
}

function revokeSection(ctx: Ctx): string {
  return `## Revoking

When you are done, revoke the token (RFC 7009). Revoking an access or refresh token ends the owner's whole grant to this app: every token of it stops working at once. The answer is 200 with an empty body, also for a token that was already gone.

${mdFence('sh', `curl -s ${ctx.clientAuth} -d token="$OAUTH3_TOKEN" "$OAUTH3_ISSUER/token/revocation"`)}

The owner can revoke this app at any time too (console, Connected apps); from then on every call answers 401.`;
}

function errorsSection(): string {
  const rows: [string, string, string][] = [
    ['401', 'invalid_token', 'The token is missing, expired or revoked, or for another audience. Refresh it, or ask the owner again.'],
    [
      '403',
      'insufficient_scope',
      'The token lacks the scope the call needs (named in `WWW-Authenticate`). Ask the owner for it; do not retry.',
    ],
    ['403', 'owner_required', 'A client-credentials token called a route that acts for an owner. Use a token an owner approved.'],
    [
      '403',
      'policy_*',
      "The owner's limits for this app refuse the request (a blocked word or pattern, links, mentions, posts per day). Tell the owner; do not retry the same request.",
    ],
    [
      '202',
      'pending_approval',
      'The owner reviews posts from this app first: the answer holds an `id`; the post goes out only if the owner approves it in their console.',
    ],
    ['409', 'not_connected', 'The owner has not connected that account. Ask them to connect it in their console.'],
    [
      '409',
      'reconnect_required',
      "The upstream no longer accepts the owner's connection. Ask them to reconnect it in their console, then retry.",
    ],
    ['429', 'upstream_rate_limited', 'The upstream rate-limits the account: wait for `Retry-After` seconds.'],
    ['502, 503, 504', 'upstream_error, temporarily_unavailable, upstream_timeout', 'Retry later, with backoff.'],
  ];
  return [
    '## Errors',
    'API errors are JSON `{"error": "…", "error_description": "…"}`; token endpoint errors follow RFC 6749 §5.2.',
    [
      '| Status | `error` (or `status`) | What to do |',
      '| --- | --- | --- |',
      ...rows.map(([status, code, what]) => `| ${status} | ${code.split(', ').map(mdCode).join(', ')} | ${what} |`),
    ].join('\n'),
  ].join('\n\n');
}

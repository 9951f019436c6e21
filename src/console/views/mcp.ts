import { html, type SafeHtml } from '../../web/html.js';
import { copyButton } from '../../web/copy.js';
import { scopeBadge } from '../../web/scope-badges.js';
import { csrfField } from '../../web/forms.js';
import type { ScopeCatalog } from '../../../scopes/catalog.js';
import { scopeChoices } from './scope-choices.js';
import { LIFETIME_CHOICES } from './tokens.js';

/** One tool of the MCP server, as the owner reads about it. */
export interface McpToolSummary {
  name: string;
  title: string;
  description: string;
  /** The scope a token needs to call it. */
  scope: string;
  /** Only reads (MCP's readOnlyHint); every other tool may change something. */
  readOnly: boolean;
}

export interface McpPageInput {
  /** The MCP server's address (`Config.MCP_URL`). */
  url: string;
  tools: readonly McpToolSummary[];
  /** Whether an MCP client can get a token by itself: open registration or client ID metadata documents. */
  selfRegistration: boolean;
  scopes: ScopeCatalog;
  csrf: string;
  /** The token just minted: its value is on this one page and nowhere else. */
  created?: { token: string; name: string };
  /** What the owner typed, when the form is shown again with a problem. */
  draft?: { name?: string; scopes?: string[]; lifetimeHours?: number };
}

/** A configuration snippet for one kind of MCP client, as text to paste. */
export interface McpSnippet {
  id: string;
  label: string;
  text: string;
  hint: string;
}

/** Single quotes for a POSIX shell: the address comes from the configuration, but a command must survive any. */
const shellQuote = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);

/**
 * What to paste into the common MCP clients, for the server at `url`. Without a token, the client signs in by OAuth
 * itself; with one, it sends the token in the `Authorization` header and never asks.
 */
export function mcpSnippets(url: string, token?: string): McpSnippet[] {
  const headers = token ? { headers: { Authorization: `Bearer ${token}` } } : {};
  const json = (value: unknown) => JSON.stringify(value, null, 2);
  return [
    {
      id: 'mcp-servers',
      label: 'Cursor, Windsurf and other apps with an “mcpServers” file',
      text: json({ mcpServers: { oauth3: { url, ...headers } } }),
      hint: 'Add this entry to the app’s MCP settings file (in Cursor: ~/.cursor/mcp.json, or .cursor/mcp.json in a project).',
    },
    {
      id: 'vscode',
      label: 'VS Code',
      text: json({ servers: { oauth3: { type: 'http', url, ...headers } } }),
      hint: 'Put this in .vscode/mcp.json in your project, or run “MCP: Add Server” and choose HTTP.',
    },
    {
      id: 'claude-code',
      label: 'Claude Code',
      text: `claude mcp add --transport http oauth3 ${shellQuote(url)}${token ? ` --header ${shellQuote(`Authorization: Bearer ${token}`)}` : ''}`,
      hint: 'Run this in a terminal.',
    },
    {
      id: 'inspector',
      label: 'MCP Inspector (to try the tools yourself)',
      text: 'npx @modelcontextprotocol/inspector',
      hint: token
        ? `Run this in a terminal. In the page it opens, choose “Streamable HTTP”, paste the address ${url}, add the header Authorization with the value “Bearer” and your token (under Authentication), and connect.`
        : `Run this in a terminal. In the page it opens, choose “Streamable HTTP”, paste the address ${url} and connect.`,
    },
  ];
}

/** A read-only box the owner selects and copies, as many rows high as the text has lines. */
function snippetField(prefix: string, snippet: McpSnippet): SafeHtml {
  const id = `${prefix}${snippet.id}`;
  const rows = snippet.text.split('\n').length;
  return html`<div class="field">
  <label for="${id}">${snippet.label}</label>
  <textarea id="${id}" class="token-value snippet" readonly rows="${rows}" spellcheck="false" autocomplete="off">${snippet.text}</textarea>
  ${copyButton(id, snippet.label)}
  <span class="hint">${snippet.hint}</span>
</div>`;
}

function createdSection(url: string, created: { token: string; name: string }): SafeHtml {
  return html`<section class="new-token" aria-labelledby="new-mcp-token-title">
<h2 id="new-mcp-token-title">Your new MCP token for “${created.name}”</h2>
<div class="field">
  <label for="new-mcp-token-value">Token</label>
  <input id="new-mcp-token-value" class="token-value" type="text" readonly value="${created.token}" autocomplete="off" spellcheck="false">
  ${copyButton('new-mcp-token-value', 'token')}
  <span class="hint">Copy it now: it is shown only this once, and oauth3 keeps only its name, permissions and dates. Whoever
  holds it can use these permissions, so keep it out of shared files and chats.</span>
</div>
<p>The same settings as below, with the token filled in:</p>
${mcpSnippets(url, created.token).map((snippet) => snippetField('new-mcp-', snippet))}
</section>`;
}

function toolRows(scopes: ScopeCatalog, tools: readonly McpToolSummary[]): SafeHtml {
  if (!tools.length) return html`<p class="empty">This server has no tools yet.</p>`;
  return html`<table class="table">
<thead><tr><th scope="col">Tool</th><th scope="col">Permission it needs</th><th scope="col">Effect</th></tr></thead>
<tbody>
${tools.map(
  (t) => html`<tr>
  <td data-label="Tool"><strong>${t.title}</strong><div class="hint"><code>${t.name}</code></div></td>
  <td data-label="Needs"><ul class="scope-list">${scopeBadge(scopes, t.scope)}</ul></td>
  <td data-label="Effect">${t.readOnly ? 'Only reads' : 'Can make changes'}</td>
</tr>`,
)}
</tbody>
</table>`;
}

/** /console/mcp: how to connect an MCP client, what its tools need, and a token for clients that cannot sign in. */
export function mcpBody({ url, tools, selfRegistration, scopes, csrf, created, draft = {} }: McpPageInput): SafeHtml {
  const lifetime = draft.lifetimeHours ?? 24;
  const toolScopes = new Set(tools.map((t) => t.scope));
  return html`<h1>Use with an MCP client</h1>
<p>MCP (the Model Context Protocol) is how AI assistants such as Claude, Cursor or VS Code use tools outside
themselves. oauth3 is an MCP server: connect your assistant to it, and it can read and post on the accounts you
connected here, only with the permissions you give it and within the limits you set.</p>
${created ? createdSection(url, created) : ''}
<section aria-labelledby="mcp-url-title">
<h2 id="mcp-url-title">The server’s address</h2>
<div class="field">
  <label for="mcp-url">MCP server URL</label>
  <input id="mcp-url" class="token-value" type="text" readonly value="${url}" autocomplete="off" spellcheck="false">
  ${copyButton('mcp-url', 'address')}
  <span class="hint">Paste it where your assistant asks for the address of an MCP server. Some call it a “remote”, “HTTP”
  or “Streamable HTTP” server, or a “custom connector”.</span>
</div>
</section>
<section aria-labelledby="mcp-how-title">
<h2 id="mcp-how-title">What happens when you connect</h2>
<ol class="steps">
  <li>The first time, your assistant introduces itself to oauth3 and opens an oauth3 page in your browser. Sign in with
  your passkey, read what it asks for, and allow it (or don’t).</li>
  <li>From then on it is listed under <a href="/console/apps">Connected apps</a>, like any app. There you can set its
  limits (posts per day, your approval before a post goes out) or revoke it: it stops working at once.</li>
  <li>Each tool needs a permission, listed below. When your assistant wants a tool it has no permission for yet, it asks
  you again, for that permission only.</li>
</ol>
${
  selfRegistration
    ? ''
    : html`<p class="notice notice-error">This server does not let assistants introduce themselves, so signing in from an
assistant will not work here. Make a token below instead.</p>`
}
</section>
<section aria-labelledby="mcp-setup-title">
<h2 id="mcp-setup-title">Set up your assistant</h2>
<p>Pick the one you use. Each needs only the address above: your assistant asks you to sign in the first time.</p>
<div class="field">
  <strong>Claude (the desktop app or claude.ai)</strong>
  <span class="hint">Open Settings, then Connectors, choose “Add custom connector” and paste the address.</span>
</div>
${mcpSnippets(url).map((snippet) => snippetField('mcp-', snippet))}
</section>
<section aria-labelledby="mcp-tools-title">
<h2 id="mcp-tools-title">What your assistant can do</h2>
${toolRows(scopes, tools)}
</section>
<section aria-labelledby="mcp-token-title">
<h2 id="mcp-token-title">For assistants that take only a token</h2>
<p>Some assistants cannot sign in and take only a fixed “Authorization” header instead. Make a token for them here: it
works only with the MCP server, with the permissions you pick, until it expires or you revoke it under
<a href="/console/tokens">Agent tokens</a>.</p>
<form method="post" action="/console/mcp" class="token-form">
  ${csrfField(csrf)}
  <div class="field">
    <label for="mcp-token-name">Name</label>
    <input id="mcp-token-name" name="name" type="text" required maxlength="60" value="${draft.name ?? ''}" autocomplete="off">
    <span class="hint">Which assistant it is for, so you can tell your tokens apart.</span>
  </div>
  ${scopeChoices(scopes, 'mcp-scope-', new Set(draft.scopes ?? []), toolScopes)}
  <div class="field">
    <label for="mcp-token-lifetime">Works for</label>
    <select id="mcp-token-lifetime" name="lifetime_hours">
      ${LIFETIME_CHOICES.map((c) => html`<option value="${c.hours}"${c.hours === lifetime ? html` selected` : ''}>${c.label}</option>`)}
    </select>
  </div>
  <button type="submit" class="button primary compact">Make MCP token</button>
</form>
</section>`;
}

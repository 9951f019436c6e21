// The developer playground (src/developers/views/playground.ts): the authorization code flow with PKCE, one button
// per step, run in this tab the way a single-page app does it, with the playground's client or the developer's own
// app (its public information from GET /developers/apps/:id/info). Its state lives in sessionStorage, so it survives
// the trip through the authorization endpoint. A confidential app's secret is the exception: it is read from its field
// when a request needs it, sent only to the token and revocation endpoints, and never stored. Every request and answer
// is shown with textContent (never innerHTML); tokens, codes, the verifier and the secret are masked until the
// developer asks to see them.

const root = document.getElementById('playground');
const STORE = 'oauth3.playground';
const facts = {
  issuer: root.dataset.issuer,
  resource: root.dataset.resource,
  defaultClientId: root.dataset.clientId,
  redirectUri: root.dataset.redirectUri,
  calls: JSON.parse(root.dataset.calls || '[]'),
};
const $ = (id) => document.getElementById(id);

let state = load();

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) ?? '') ?? {};
  } catch {
    return {};
  }
}

function save() {
  sessionStorage.setItem(STORE, JSON.stringify(state));
}

function say(message) {
  $('pg-status').textContent = message;
}

// ---- PKCE (RFC 7636 §4.1, §4.2) and random values, with WebCrypto ----

const base64url = (bytes) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
const randomValue = (size = 32) => base64url(crypto.getRandomValues(new Uint8Array(size)));
const challengeOf = async (verifier) => base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));

// ---- Showing requests and answers ----

/** Values never shown whole unless revealed: every token, the code, the verifier and the client secret. */
function secrets() {
  const t = state.tokens ?? {};
  const old = state.previous ?? {};
  const secret = clientSecret();
  return [
    t.access_token,
    t.refresh_token,
    t.id_token,
    old.access_token,
    old.refresh_token,
    state.callback?.code,
    state.pkce?.verifier,
    ...(secret ? [basicCredentials(state.clientId, secret), secret] : []),
  ].filter((value) => typeof value === 'string' && value.length > 12);
}

// ---- The developer's own app ----

/** The typed client secret, read from its field each time: never kept in `state` or any storage. */
const clientSecret = () => $('pg-client-secret').value.trim();
/** RFC 6749 §2.3.1: each part form-urlencoded, then base64. */
const basicCredentials = (id, secret) => btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`);
const confidential = () => state.app?.token_endpoint_auth_method === 'client_secret_basic';

/**
 * How the token and revocation endpoints learn which app asks: a public client names itself in the body, a
 * confidential one authenticates with its secret in the Authorization header (and only there).
 */
function clientAuth(fields) {
  if (!confidential()) return { headers: FORM, body: form({ ...fields, client_id: state.clientId }) };
  const secret = clientSecret();
  if (!secret) throw new Error('enter the client secret of your app in step 3 first');
  return { headers: { ...FORM, Authorization: `Basic ${basicCredentials(state.clientId, secret)}` }, body: form(fields) };
}

/** Loads an app's public information (name, scopes, kind) and shapes the page around it. */
async function loadApp() {
  const clientId = $('pg-client-id').value.trim();
  if (!clientId || clientId === facts.defaultClientId) {
    state.app = undefined;
    state.appError = undefined;
    state.clientId = clientId || facts.defaultClientId;
    save();
    say("Using the playground's own public client.");
    render();
    return;
  }
  const response = await fetch(`/developers/apps/${encodeURIComponent(clientId)}/info`, {
    credentials: 'omit',
    headers: { Accept: 'application/json' },
  });
  state.clientId = clientId;
  if (response.status === 404) {
    state.app = undefined;
    state.appError = `No active app has the client ID ${clientId}. Check it in the developer portal.`;
  } else if (!response.ok) {
    state.app = undefined;
    state.appError = `The app's information could not be read (HTTP ${response.status}).`;
  } else {
    state.app = await response.json();
    state.appError = undefined;
    const allowed = new Set(state.app.scopes.map((s) => s.name));
    for (const input of document.querySelectorAll('#pg-configure input[name="scope"]')) {
      input.checked = allowed.has(input.value) && ['openid', 'offline_access'].includes(input.value);
    }
    state.scopes = chosenScopes();
  }
  skill = undefined;
  save();
  say(state.app ? `Loaded ${state.app.name}.` : state.appError);
  render();
}

/** The app's card in step 1: who it is, what it may ask for, and what it needs before the flow can work. */
function renderApp() {
  const box = $('pg-app');
  box.replaceChildren();
  if (state.appError) {
    const p = document.createElement('p');
    p.className = 'field-error';
    p.textContent = state.appError;
    box.append(p);
    return;
  }
  const app = state.app;
  if (!app) return;
  const card = document.createElement('div');
  card.className = 'pg-app-card';
  const title = document.createElement('h3');
  if (app.logo_uri?.startsWith('https://')) {
    const img = document.createElement('img');
    Object.assign(img, { src: app.logo_uri, alt: '', width: 32, height: 32, className: 'pg-app-logo' });
    title.append(img, ' ');
  }
  title.append(app.name);
  card.append(title);
  const line = (text) => {
    const p = document.createElement('p');
    p.textContent = text;
    card.append(p);
    return p;
  };
  if (app.description) line(app.description);
  line(
    app.token_endpoint_auth_method === 'none'
      ? 'Public app: no secret.'
      : 'Confidential app: you type its secret at step 3; it never leaves this page except to the token endpoint.',
  );
  if (!app.playground.registered) {
    const warn = line(
      `Add ${app.playground.redirect_uri} to this app's redirect URIs in the developer portal, or the sign-in will be refused.`,
    );
    warn.className = 'field-error';
  }
  const list = document.createElement('ul');
  list.className = 'pg-app-scopes';
  for (const scope of app.scopes) {
    const li = document.createElement('li');
    const strong = document.createElement('strong');
    strong.textContent = scope.title;
    const code = document.createElement('code');
    code.textContent = scope.name;
    li.append(strong, ' ', code, ` — ${scope.description}`);
    list.append(li);
  }
  const label = line('It may ask for:');
  label.after(list);
  box.append(card);
}

// ---- The skill document tab ----

/** The skill document as last fetched for the loaded app (not stored: it is fetched again after a reload). */
let skill;

async function loadSkill() {
  if (!state.app) {
    skill = { message: 'Load your app in step 1 of the sign-in flow to see its skill document.' };
    return renderSkill();
  }
  const url = `/developers/apps/${encodeURIComponent(state.app.client_id)}/skill.md`;
  const response = await fetch(url, { credentials: 'same-origin', redirect: 'manual', headers: { Accept: 'text/markdown' } });
  skill = response.ok
    ? { text: await response.text(), url }
    : {
        message:
          'Only the developer who registered this app sees its skill document: sign in to the developer portal with that account, then open this tab again.',
      };
  renderSkill();
}

function renderSkill() {
  const pre = $('pg-skill');
  const link = $('pg-skill-download');
  pre.hidden = !skill?.text;
  link.hidden = !skill?.text;
  pre.textContent = skill?.text ?? '';
  if (skill?.url) link.href = skill.url;
  $('pg-skill-status').textContent = skill?.text ? `The skill document of ${state.app.name}:` : (skill?.message ?? '');
}

/** The two tabs (WAI-ARIA tabs pattern): click or arrow keys switch, only the chosen panel shows. */
function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const chosen = other === tab;
    other.setAttribute('aria-selected', String(chosen));
    other.tabIndex = chosen ? 0 : -1;
    $(other.getAttribute('aria-controls')).hidden = !chosen;
  }
  if (tab.id === 'pg-tab-skill') void loadSkill().catch((error) => say(`The skill document could not be read: ${error?.message ?? error}`));
}

const mask = (value) => `${value.slice(0, 6)}…${value.slice(-4)}`;

function masked(text, reveal) {
  if (reveal) return text;
  return secrets().reduce((out, secret) => out.split(secret).join(mask(secret)), text);
}

const pretty = (body) => {
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
};

function requestText({ method, url, headers, body }) {
  const target = new URL(url);
  const lines = [
    `${method} ${target.pathname}${target.search} HTTP/1.1`,
    `Host: ${target.host}`,
    ...Object.entries(headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ];
  return lines.join('\n') + (body ? `\n\n${body}` : '');
}

/** Headers every answer of this server carries (src/http/security.ts) or that only concern the connection. */
const ROUTINE = new Set([
  'content-security-policy',
  'permissions-policy',
  'cross-origin-opener-policy',
  'x-frame-options',
  'x-content-type-options',
  'referrer-policy',
  'connection',
  'keep-alive',
  'date',
]);

function responseText({ status, statusText, headers, body }) {
  const shown = headers.filter(([k]) => !ROUTINE.has(k));
  const hidden = headers.length - shown.length;
  const lines = [`HTTP/1.1 ${status} ${statusText}`, ...shown.map(([k, v]) => `${k}: ${v}`)];
  if (hidden > 0) lines.push(`(and ${hidden} security and connection headers every answer carries)`);
  return lines.join('\n') + (body ? `\n\n${pretty(body)}` : '');
}

/** One exchange as two labelled blocks, a reveal button, and optional notes (`["Refresh token rotated", "yes"]`). */
function renderExchange(name, exchange) {
  const out = document.querySelector(`[data-output="${name}"]`);
  out.replaceChildren();
  if (!exchange) return;
  let reveal = false;
  const figure = document.createElement('figure');
  figure.className = 'pg-exchange';
  figure.dataset.exchange = name;
  const blocks = [];
  const block = (label, text, part) => {
    const heading = document.createElement('h3');
    heading.textContent = label;
    const pre = document.createElement('pre');
    pre.className = 'pg-http';
    pre.dataset.part = part;
    pre.tabIndex = 0;
    blocks.push([pre, text]);
    figure.append(heading, pre);
  };
  if (exchange.request) block('Request', requestText(exchange.request), 'request');
  if (exchange.response) block('Response', responseText(exchange.response), 'response');
  if (exchange.text) block(exchange.label ?? 'Details', exchange.text, 'details');
  for (const [label, value] of exchange.notes ?? []) {
    const note = document.createElement('p');
    note.className = 'pg-note';
    note.dataset.note = label;
    note.textContent = `${label}: ${value}`;
    figure.append(note);
  }
  const toggle = document.createElement('button');
  toggle.type = 'button';
  toggle.className = 'button secondary compact pg-reveal';
  const paint = () => {
    for (const [pre, text] of blocks) pre.textContent = masked(text, reveal);
    toggle.textContent = reveal ? 'Hide secrets' : 'Reveal secrets';
    toggle.setAttribute('aria-pressed', String(reveal));
  };
  toggle.addEventListener('click', () => {
    reveal = !reveal;
    paint();
  });
  paint();
  if (secrets().length > 0) figure.append(toggle);
  out.append(figure);
}

/** What is recorded of a request (and kept in sessionStorage): the client's Basic credentials never are. */
function withoutClientSecret(request) {
  if (!request.headers?.Authorization?.startsWith('Basic ')) return request;
  return { ...request, headers: { ...request.headers, Authorization: 'Basic (client ID and secret, not kept)' } };
}

/** Sends a request, records both sides for display, and returns the parsed JSON answer (or null). */
async function send(request) {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    credentials: 'omit',
    cache: 'no-store',
  });
  const body = await response.text();
  const exchange = {
    request: withoutClientSecret(request),
    response: { status: response.status, statusText: response.statusText, headers: [...response.headers.entries()], body },
  };
  let json = null;
  try {
    json = body ? JSON.parse(body) : null;
  } catch {
    json = null;
  }
  return { exchange, json, ok: response.ok };
}

const form = (fields) => new URLSearchParams(Object.entries(fields).filter(([, v]) => v !== undefined)).toString();
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };

// ---- The steps ----

function chosenScopes() {
  return [...document.querySelectorAll('#pg-configure input[name="scope"]:checked')].map((input) => input.value);
}

/** The catalog says which scopes are for the resource API (the checkbox's data-kind, scopes/catalog.ts). */
function isResourceScope(scope) {
  return document.querySelector(`#pg-configure input[name="scope"][value="${CSS.escape(scope)}"]`)?.dataset.kind === 'resource';
}

async function prepare(event) {
  event.preventDefault();
  const typed = $('pg-client-id').value.trim();
  // An app typed but not loaded yet: load it first, so the flow knows whether it is confidential.
  if (typed && typed !== facts.defaultClientId && state.app?.client_id !== typed) await loadApp();
  const clientId = $('pg-client-id').value.trim();
  const scopes = chosenScopes();
  const verifier = randomValue(32);
  const pkce = { verifier, challenge: await challengeOf(verifier), state: randomValue(16) };
  const params = {
    client_id: clientId,
    response_type: 'code',
    redirect_uri: facts.redirectUri,
    scope: scopes.join(' '),
    // RFC 8707: resource scopes are issued for the resource API.
    resource: scopes.some(isResourceScope) ? facts.resource : undefined,
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    state: pkce.state,
    // The consent screen every time, even when the grant exists: this is a walkthrough (and offline_access needs it).
    prompt: 'consent',
  };
  const url = `${facts.issuer}/auth?${form(params)}`;
  const app = state.app?.client_id === clientId ? state.app : undefined;
  state = { clientId, scopes, pkce, authorizeUrl: url, ...(app ? { app } : {}) };
  save();
  say('Authorization request prepared. Open it to sign in and approve.');
  render();
}

function authorizeDetails() {
  if (!state.authorizeUrl) return undefined;
  const url = new URL(state.authorizeUrl);
  const lines = [
    `code_verifier (kept in this tab): ${state.pkce.verifier}`,
    `code_challenge = BASE64URL(SHA256(code_verifier)): ${state.pkce.challenge}`,
    '',
    `GET ${url.pathname}`,
  ];
  for (const [key, value] of url.searchParams) lines.push(`  ${key}=${value}`);
  const text = lines.join('\n');
  return state.callback
    ? {
        label: 'Authorization request',
        text: `${text}\n\nCame back with:\n${Object.entries(state.callback)
          .map(([k, v]) => `  ${k}=${v}`)
          .join('\n')}`,
      }
    : { label: 'Authorization request', text };
}

/** The browser is back from the authorization endpoint: accept the code only for the state this tab made. */
function takeCallback() {
  const query = new URLSearchParams(location.search);
  if (!query.has('code') && !query.has('error')) return;
  // The code must not stay in the address bar or the history.
  history.replaceState(null, '', location.pathname);
  if (!state.pkce || query.get('state') !== state.pkce.state) {
    say('This answer is not for a request this page made (state does not match): it was ignored.');
    return;
  }
  // RFC 9207: the answer must come from this issuer.
  if (query.get('iss') !== facts.issuer) {
    say(`The answer names issuer ${query.get('iss') ?? '(none)'}, not ${facts.issuer}: it was ignored.`);
    return;
  }
  if (query.has('error')) {
    state.callback = { error: query.get('error'), error_description: query.get('error_description') ?? '' };
    say(`The authorization request ended with ${query.get('error')}.`);
  } else {
    state.callback = { code: query.get('code'), state: query.get('state'), iss: query.get('iss') };
    say('Back with an authorization code. Exchange it for tokens.');
  }
  save();
}

async function exchange() {
  const request = {
    method: 'POST',
    url: `${facts.issuer}/token`,
    ...clientAuth({
      grant_type: 'authorization_code',
      code: state.callback.code,
      redirect_uri: facts.redirectUri,
      code_verifier: state.pkce.verifier,
    }),
  };
  const { exchange: shown, json, ok } = await send(request);
  state.exchange = shown;
  state.callback.used = true;
  if (ok && json?.access_token) state.tokens = json;
  save();
  say(ok ? 'Tokens received.' : 'The token endpoint refused the code.');
  render();
  if (ok) chooseCall();
}

function callOptions() {
  const granted = new Set(String(state.tokens?.scope ?? '').split(' '));
  const options = facts.calls
    .filter((call) => granted.has(call.scope))
    .map((call) => ({
      label: `${call.method} ${call.path} (${call.scope})`,
      method: call.method,
      url: `${facts.resource}${call.path}`,
      body: call.body,
    }));
  options.push({ label: 'GET /me (userinfo, with openid and no resource scope)', method: 'GET', url: `${facts.issuer}/me` });
  return options;
}

function chooseCall(index = 0) {
  const option = callOptions()[index];
  if (!option) return;
  $('pg-call-method').value = option.method;
  $('pg-call-url').value = option.url;
  $('pg-call-body').value = option.body ? JSON.stringify(option.body, null, 2) : '';
}

function apiRequest(token) {
  const method = $('pg-call-method').value;
  const body = $('pg-call-body').value.trim();
  const withBody = body && method !== 'GET';
  return {
    method,
    url: new URL($('pg-call-url').value, facts.issuer).href,
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', ...(withBody ? { 'Content-Type': 'application/json' } : {}) },
    body: withBody ? body : undefined,
  };
}

async function callApi(event) {
  event.preventDefault();
  const { exchange: shown } = await send(apiRequest(state.tokens.access_token));
  state.call = shown;
  save();
  say(`The API answered ${shown.response.status}.`);
  render();
}

async function refresh() {
  const request = {
    method: 'POST',
    url: `${facts.issuer}/token`,
    ...clientAuth({ grant_type: 'refresh_token', refresh_token: state.tokens.refresh_token }),
  };
  const { exchange: shown, json, ok } = await send(request);
  if (ok && json?.access_token) {
    state.previous = { access_token: state.tokens.access_token, refresh_token: state.tokens.refresh_token };
    state.tokens = json;
    shown.notes = [
      ['New access token differs from the previous one', json.access_token !== state.previous.access_token ? 'yes' : 'no'],
      ['Refresh token rotated', json.refresh_token && json.refresh_token !== state.previous.refresh_token ? 'yes' : 'no'],
    ];
  }
  state.refresh = shown;
  save();
  say(ok ? 'Tokens refreshed.' : 'The token endpoint refused the refresh token.');
  render();
}

async function revoke() {
  const which = $('pg-revoke-which').value;
  const request = {
    method: 'POST',
    url: `${facts.issuer}/token/revocation`,
    ...clientAuth({ token: state.tokens[which], token_type_hint: which }),
  };
  const { exchange: shown, ok } = await send(request);
  state.revoke = shown;
  if (ok) state.revoked = true;
  save();
  say(ok ? 'Revoked: every token of this grant has stopped working.' : 'The revocation endpoint refused the request.');
  render();
}

async function recheck() {
  const { exchange: shown } = await send(apiRequest(state.tokens.access_token));
  state.recheck = shown;
  save();
  say(`With the revoked token the API answered ${shown.response.status}.`);
  render();
}

function render() {
  if (state.clientId) $('pg-client-id').value = state.clientId;
  renderApp();
  $('pg-secret-field').hidden = !confidential();
  if (state.app) {
    const allowed = new Set(state.app.scopes.map((s) => s.name));
    for (const input of document.querySelectorAll('#pg-configure input[name="scope"]')) input.disabled = !allowed.has(input.value);
  } else {
    for (const input of document.querySelectorAll('#pg-configure input[name="scope"]')) input.disabled = false;
  }
  if (state.scopes)
    for (const input of document.querySelectorAll('#pg-configure input[name="scope"]')) input.checked = state.scopes.includes(input.value);
  renderExchange('authorize', authorizeDetails());
  renderExchange('exchange', state.exchange);
  renderExchange('call', state.call);
  renderExchange('refresh', state.refresh);
  renderExchange('revoke', state.revoke);
  renderExchange('recheck', state.recheck);
  const live = Boolean(state.tokens?.access_token) && !state.revoked;
  $('pg-prepare').disabled = false;
  $('pg-authorize').disabled = !state.authorizeUrl || Boolean(state.callback);
  $('pg-exchange').disabled = !state.callback?.code || state.callback.used;
  $('pg-call-send').disabled = !live;
  $('pg-refresh').disabled = !live || !state.tokens.refresh_token;
  $('pg-revoke').disabled = !live;
  $('pg-recheck').disabled = !state.revoked;
  const choice = $('pg-call-choice');
  choice.replaceChildren(
    ...callOptions().map((option, i) => Object.assign(document.createElement('option'), { value: String(i), textContent: option.label })),
  );
}

/** Runs a step's action with its button busy; a network failure is said in the status line, not thrown away. */
function wire(id, event, action) {
  $(id).addEventListener(event, async (e) => {
    const button = e.submitter ?? e.currentTarget;
    if (button instanceof HTMLButtonElement) button.disabled = true;
    try {
      await action(e);
    } catch (error) {
      say(`The request failed: ${error?.message ?? error}`);
      render();
    }
  });
}

wire('pg-configure', 'submit', prepare);
wire('pg-load-app', 'click', loadApp);
for (const tab of document.querySelectorAll('[role="tab"]')) {
  tab.addEventListener('click', () => selectTab(tab));
  tab.addEventListener('keydown', (e) => {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
    if (!step) return;
    e.preventDefault();
    const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
    next.focus();
    selectTab(next);
  });
}
wire('pg-authorize', 'click', async () => location.assign(state.authorizeUrl));
wire('pg-exchange', 'click', exchange);
wire('pg-call', 'submit', callApi);
wire('pg-refresh', 'click', refresh);
wire('pg-revoke', 'click', revoke);
wire('pg-recheck', 'click', recheck);
$('pg-call-choice').addEventListener('change', (e) => chooseCall(Number(e.target.value)));
$('pg-reset').addEventListener('click', () => {
  sessionStorage.removeItem(STORE);
  state = {};
  skill = undefined;
  $('pg-client-secret').value = '';
  $('pg-client-id').value = facts.defaultClientId;
  say('Started over.');
  render();
});

takeCallback();
render();
if (state.tokens && !$('pg-call-url').value) chooseCall();

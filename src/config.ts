import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { pluginSettings } from './plugins/builtin.js';
import type { Setting } from './setting.js';
import { parseRange, type ProxyTrustSetting } from './http/client-address.js';

/**
 * The whole environment of oauth3, parsed once at start: one zod schema for the whole environment.
 * Every setting says what it is and how to fix a bad value; the README's configuration table is generated from
 * this list (`npm run config:table`) and a test keeps the two equal.
 */

const seconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
/** A comma-separated list, entries trimmed and blanks dropped. */
const commaList = z.string().transform((v) =>
  v
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean),
);
const key32 = z.string().refine((v) => decodeKey(v)?.length === 32, 'must be 32 random bytes, base64url or hex encoded');

function isRange(value: string): boolean {
  try {
    parseRange(value);
    return true;
  } catch {
    return false;
  }
}

/** A development escape hatch's comma-separated `host:port` list (lower-cased, blanks dropped). */
const hostPortList = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  )
  .refine((hosts) => hosts.every((h) => /^[a-z0-9.-]+:\d{1,5}$|^\[[0-9a-f:]+\]:\d{1,5}$/.test(h)), 'every entry must be host:port')
  .optional();

const coreSettings = {
  NODE_ENV: {
    schema: z.enum(['development', 'production', 'test']).default('development'),
    doc: '`production` refuses generated keys, a missing `MASTER_KEY` or `COOKIE_KEYS`, and a non-https issuer.',
    fix: 'use development, production or test',
  },
  ISSUER: {
    schema: z.url({ protocol: /^https?$/ }).optional(),
    doc: 'Public URL of the server, exactly as clients see it (no trailing slash). Default `http://localhost:$PORT`.',
    fix: 'set a URL such as https://auth.example.com',
  },
  PORT: {
    schema: z.coerce.number().int().min(0).max(65535).default(3000),
    doc: 'TCP port to listen on.',
    fix: 'use a number from 0 to 65535',
  },
  HOST: {
    schema: z.string().min(1).optional(),
    doc: 'Address to bind. Default: `127.0.0.1` in development and test (this machine only), every interface in production; `0.0.0.0` (or `::`) opens a development server to the network.',
    fix: 'use an address such as 127.0.0.1 or 0.0.0.0',
  },
  DATA_DIR: {
    schema: z.string().min(1).default('./data'),
    doc: 'Folder for the embedded database (when `DATABASE_URL` is unset) and, in development, the generated master key.',
    fix: 'use a writable folder path',
  },
  DATABASE_URL: {
    schema: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
    doc: 'Postgres connection string. Unset: embedded PGlite in `DATA_DIR`.',
    fix: 'use postgres://user:password@host:5432/database',
  },
  WORKERS: {
    schema: z.coerce.number().int().min(1).max(256).optional(),
    doc: 'How many worker processes serve requests on this machine, behind one port (node:cluster; see "One machine, several cores"). Default: the number of CPUs in production with `DATABASE_URL` set, else 1. Above 1 it needs `DATABASE_URL` (the embedded database is one process\'s); each worker opens up to `DATABASE_POOL_SIZE` connections. Kubernetes: keep 1 and scale pods.',
    fix: 'use a whole number from 1 to 256',
  },
  DATABASE_POOL_SIZE: {
    schema: z.coerce.number().int().min(1).max(200).default(20),
    doc: 'Most Postgres connections one process opens.',
    fix: 'use a number from 1 to 200',
  },
  DATABASE_TIMEOUT_MS: {
    schema: z.coerce.number().int().min(100).default(5000),
    doc: 'Longest wait for a connection or a statement before the request fails closed (threat model H3). Migrations at start wait as long for a connection, but a statement of theirs may take up to five minutes.',
    fix: 'use a number of milliseconds, at least 100',
  },
  REDIS_URL: {
    schema: z.url({ protocol: /^rediss?$/ }).optional(),
    doc: 'Redis for short-lived models (sessions, interactions, codes, replay detection). Unset: all in the database.',
    fix: 'use redis://host:6379/0',
  },
  MASTER_KEY: {
    schema: key32.optional(),
    doc: 'Encrypts signing keys, cookie keys and stored credentials. Generated into `DATA_DIR` in development; required in production. Generate one with `openssl rand -base64 32`.',
    fix: 'generate one with: openssl rand -base64 32',
  },
  MASTER_KEY_PREVIOUS: {
    schema: commaList
      .refine((keys) => keys.every((k) => decodeKey(k)?.length === 32), 'every key must be 32 random bytes, base64url or hex encoded')
      .optional(),
    doc: 'Comma-separated earlier master keys, still able to open what they sealed. After `npm run keys:rotate-master` has re-wrapped everything, remove them.',
    fix: 'list the earlier MASTER_KEY values, comma-separated',
  },
  MASTER_KEY_SOURCE: {
    schema: z.enum(['env', 'dstack']).default('env'),
    doc: '`env`: the master key is `MASTER_KEY` (or, in development, the generated key file). `dstack`: it is derived inside the confidential VM by dstack\'s key management service through the guest agent and exists nowhere else; `MASTER_KEY` must then be unset, and `/attestation` serves a TDX quote. See "Deploying in a TEE" and docs/architecture.md#tee-mode.',
    fix: 'use env or dstack',
  },
  DSTACK_KEY_PATH: {
    schema: z
      .string()
      .regex(/^[\w.-]+(\/[\w.-]+)*$/, 'must be a path of letters, digits, dots, dashes and underscores separated by /')
      .default('oauth3/master/v1'),
    doc: "With `MASTER_KEY_SOURCE=dstack`: the key path asked of dstack's KMS for the current master key. To rotate, make it `oauth3/master/v2`, list the old path in `DSTACK_KEY_PATHS_PREVIOUS`, restart, then run `npm run keys:rotate-master`.",
    fix: 'use a path such as oauth3/master/v2',
  },
  DSTACK_KEY_PATHS_PREVIOUS: {
    schema: commaList
      .refine((paths) => paths.every((p) => /^[\w.-]+(\/[\w.-]+)*$/.test(p)), 'every entry must be a key path such as oauth3/master/v1')
      .optional(),
    doc: 'With `MASTER_KEY_SOURCE=dstack`: comma-separated earlier key paths whose keys still open what they sealed, until `npm run keys:rotate-master` has re-wrapped everything.',
    fix: 'list earlier key paths, comma-separated, such as oauth3/master/v1',
  },
  DSTACK_SOCKET: {
    schema: z.string().startsWith('/', 'must be an absolute path').default('/var/run/dstack.sock'),
    doc: "With `MASTER_KEY_SOURCE=dstack`: the guest agent's unix socket inside the confidential VM (mount it into the container).",
    fix: 'use the absolute path of the mounted socket, normally /var/run/dstack.sock',
  },
  DSTACK_SIMULATOR_ENDPOINT: {
    schema: z.string().min(1).optional(),
    doc: "Development only: the dstack simulator's address (`http://127.0.0.1:8090` or a socket path), used instead of `DSTACK_SOCKET`. Refused in production: a simulator's keys and quotes prove nothing.",
    fix: 'use the URL or socket path of a local dstack simulator, or unset it',
  },
  COOKIE_KEYS: {
    schema: commaList
      .refine((keys) => keys.length > 0 && keys.every((k) => k.length >= 32), 'every key must be at least 32 characters')
      .optional(),
    doc: 'Comma-separated keys that sign cookies, newest first; older keys still verify. Generated and stored encrypted in development and with `MASTER_KEY_SOURCE=dstack` (leave it unset there, so only the TEE holds them); required otherwise in production.',
    fix: 'generate one with: openssl rand -base64 32 (several: comma-separated, newest first)',
  },
  TRUST_PROXY: {
    schema: z
      .string()
      .default('false')
      .transform((value, ctx): ProxyTrustSetting => {
        const v = value.trim().toLowerCase();
        if (['false', 'no', '0'].includes(v)) return false;
        if (['true', 'yes'].includes(v)) return 1;
        if (/^\d+$/.test(v)) {
          const hops = Number(v);
          if (hops <= 10) return hops;
          ctx.addIssue({ code: 'custom', message: 'at most 10 proxies' });
          return z.NEVER;
        }
        const entries = v
          .split(',')
          .map((e) => e.trim())
          .filter(Boolean);
        const bad = entries.find((e) => !isRange(e));
        if (!entries.length || bad !== undefined) {
          ctx.addIssue({ code: 'custom', message: bad ? `${bad.slice(0, 60)} is neither an IP address nor a CIDR range` : 'is empty' });
          return z.NEVER;
        }
        return entries;
      }),
    doc: "Which reverse proxies stand in front of oauth3, so that the client's address (per-address limits, the access log, signed-in browsers) is the one they saw (threat model J3): `false`, none: the TCP peer's address, `X-Forwarded-*` headers ignored; a number, the proxies every request passes (`true` is 1; 2 for a load balancer and an ingress): the address that many entries from the right of `X-Forwarded-For`; or a comma-separated list of the proxies' addresses or CIDR ranges (`10.0.0.0/8,fd00::/8`): the rightmost address outside the list, and forwarded headers from any other peer are ignored. Issued URLs always come from `ISSUER`. See \"Behind a proxy\" under Deployment.",
    fix: 'use false, a number of proxies from 1 to 10 (true means 1), or comma-separated proxy addresses or CIDR ranges such as 10.0.0.0/8,fd00::/8',
  },
  RESOURCE_URL: {
    schema: z.url({ protocol: /^https?$/ }).optional(),
    doc: 'Audience of access tokens for the resource API (RFC 8707). Default `$ISSUER/api`.',
    fix: 'set a URL such as https://auth.example.com/api',
  },
  MCP_ALLOWED_ORIGINS: {
    schema: commaList
      .refine(
        (origins) => origins.every((o) => URL.canParse(o) && new URL(o).origin === o),
        'every entry must be an origin such as https://app.example.com',
      )
      .default([]),
    doc: "Web origins besides the issuer's own whose pages may call the MCP server at `$ISSUER/mcp` (comma-separated). Requests with any other `Origin` are refused (DNS rebinding); clients that are not browsers send none.",
    fix: 'list origins such as https://app.example.com,http://localhost:6274 (scheme, host and port; no path)',
  },
  ACCESS_TOKEN_TTL: { schema: seconds(3600), doc: 'Access token lifetime in seconds.', fix: 'use a positive number of seconds' },
  REFRESH_TOKEN_TTL: { schema: seconds(14 * 86400), doc: 'Refresh token lifetime in seconds.', fix: 'use a positive number of seconds' },
  AUTHORIZATION_CODE_TTL: { schema: seconds(60), doc: 'Authorization code lifetime in seconds.', fix: 'use a positive number of seconds' },
  ID_TOKEN_TTL: { schema: seconds(3600), doc: 'ID token lifetime in seconds.', fix: 'use a positive number of seconds' },
  SESSION_TTL: {
    schema: seconds(14 * 86400),
    doc: 'Signed-in browser session lifetime in seconds.',
    fix: 'use a positive number of seconds',
  },
  INTERACTION_TTL: {
    schema: seconds(600),
    doc: 'Time allowed to finish sign-in and consent, in seconds.',
    fix: 'use a positive number of seconds',
  },
  DEVICE_CODE_TTL: {
    schema: seconds(600),
    doc: 'Time a device (RFC 8628) has for its owner to enter the user code and approve, in seconds.',
    fix: 'use a positive number of seconds',
  },
  DEVICE_POLL_INTERVAL: {
    schema: z.coerce.number().int().min(1).max(60).default(5),
    doc: 'Seconds a device must wait between polls of the token endpoint (RFC 8628 `interval`); a device polling sooner is answered `slow_down` and its interval grows by 5 seconds (threat model B9).',
    fix: 'use a whole number of seconds from 1 to 60',
  },
  TOKEN_EXCHANGE_MAX_DEPTH: {
    schema: z.coerce.number().int().min(1).max(10).default(3),
    doc: 'How many times a token may be exchanged for a narrower one down a chain of helpers (RFC 8693, see "Token exchange"): an agent handing a token to a sub-agent, which hands one on. 1 lets an app hand tokens to its helpers but not them to theirs; a request beyond the limit is refused with `invalid_grant`.',
    fix: 'use a whole number from 1 to 10',
  },
  GRANT_TTL: {
    schema: seconds(365 * 86400),
    doc: 'How long an approved grant lasts, in seconds.',
    fix: 'use a positive number of seconds',
  },
  CHALLENGE_TTL: { schema: seconds(300), doc: 'Passkey challenge lifetime in seconds.', fix: 'use a positive number of seconds' },
  RECENT_SIGN_IN_SECONDS: {
    schema: seconds(300),
    doc: 'How recent a passkey sign-in must be for sensitive console changes, such as adding a passkey (threat model E7).',
    fix: 'use a positive number of seconds',
  },
  RP_NAME: {
    schema: z.string().min(1).max(64).default('oauth3'),
    doc: 'Name shown by the browser when creating a passkey.',
    fix: 'use 1 to 64 characters',
  },
  DEVELOPER_APPS_PER_HOUR: {
    schema: z.coerce.number().int().min(1).max(10000).default(5),
    doc: 'Most apps one developer may register in the developer portal (`/developers`) in an hour.',
    fix: 'use a whole number from 1 to 10000',
  },
  DEVELOPER_APPS_MAX: {
    schema: z.coerce.number().int().min(1).max(100000).default(10),
    doc: 'Most apps one developer may have in the developer portal at a time (deleting one frees a place).',
    fix: 'use a whole number from 1 to 100000',
  },
  ROLE: {
    schema: z.enum(['all', 'resource']).default('all'),
    doc: '`all` serves the authorization server, console and resource API; `resource` serves only the resource API (`/api`) against the same database.',
    fix: 'use all or resource',
  },
  REGISTRATION: {
    schema: z.enum(['off', 'token', 'open']).default('token'),
    doc: 'Dynamic client registration (RFC 7591/7592 at `/reg`): `off`; `token`, with an initial access token from `npm run oauth3 -- registration-tokens create`; or `open` to anyone, rate limited per IP. Default `token`: open registration lets anyone put a client of any name in front of owners on the consent screen; MCP clients without a token can use client ID metadata documents instead.',
    fix: 'use off, token or open',
  },
  REGISTRATION_PER_HOUR: {
    schema: z.coerce.number().int().min(1).max(100000).default(10),
    doc: 'Most dynamic registrations (and client metadata document fetches) one IP address may make in an hour when `REGISTRATION=open`.',
    fix: 'use a whole number from 1 to 100000',
  },
  CLIENT_METADATA_DOCUMENTS: {
    schema: flag(true),
    doc: "Accept client ID metadata documents (an https URL as `client_id`, the MCP authorization spec's preferred way): the document is fetched only from public addresses (never private, loopback or link-local, also after DNS resolution; no redirects), within a size and time limit, and such a client is public (no secret) and still needs the owner's consent.",
    fix: 'use true or false',
  },
  CLIENT_METADATA_MAX_BYTES: {
    schema: z.coerce.number().int().min(512).max(65536).default(5120),
    doc: 'Largest client metadata document (and client `jwks_uri` document, times 8) oauth3 reads, in bytes.',
    fix: 'use a number of bytes from 512 to 65536',
  },
  CLIENT_METADATA_FETCHES_PER_HOUR: {
    schema: z.coerce.number().int().min(1).max(100000).default(60),
    doc: 'Client metadata documents one address may make oauth3 fetch per hour (cached documents do not count); more are refused with `invalid_client`.',
    fix: 'use a whole number from 1 to 100000',
  },
  CLIENT_METADATA_TIMEOUT_MS: {
    schema: z.coerce.number().int().min(100).max(2500).default(2500),
    doc: "Longest wait for a client metadata document (or a client's `jwks_uri`), connection and body included.",
    fix: 'use a number of milliseconds from 100 to 2500',
  },
  CLIENT_METADATA_ALLOW_HOSTS: {
    schema: hostPortList,
    doc: 'Development and tests only (refused in production): comma-separated `host:port` that client metadata documents may be fetched from although the address is private, such as a document server on 127.0.0.1.',
    fix: 'list host:port entries such as 127.0.0.1:8443, or unset it',
  },
  CLIENT_METADATA_DEV_CA_FILE: {
    schema: z.string().min(1).optional(),
    doc: 'Development and tests only (refused in production): a PEM certificate trusted, besides the system roots, for the hosts in `CLIENT_METADATA_ALLOW_HOSTS` (a self-signed local document server).',
    fix: 'use the path of a readable PEM file, or unset it',
  },
  UPSTREAM_PROVIDERS: {
    schema: z.string().min(2).optional(),
    doc: 'Upstream OAuth 2.0 providers owners may connect, as a JSON array (see "Upstream providers" below). Added to the built-in ones.',
    fix: 'set a JSON array such as [{"id":"github","authorizationUrl":"...","tokenUrl":"...","clientId":"...","apiBaseUrl":"..."}]',
  },
  UPSTREAM_PROVIDERS_FILE: {
    schema: z.string().min(1).optional(),
    doc: 'Path of a JSON file with more upstream providers, in the same shape as `UPSTREAM_PROVIDERS`.',
    fix: 'use the path of a readable JSON file',
  },
  UPSTREAM_OWN_ALLOW_HOSTS: {
    schema: hostPortList,
    doc: "Development and tests only (refused in production): comma-separated `host:port` that owners' own OAuth apps (Connected accounts) may use although the address is private, over http or https, such as a fake provider on 127.0.0.1.",
    fix: 'list host:port entries such as 127.0.0.1:8080, or unset it',
  },
  UPSTREAM_TIMEOUT_MS: {
    schema: z.coerce.number().int().min(100).max(120000).default(10000),
    doc: 'Longest wait for an upstream API (X, Telegram, token endpoints) before the call fails with 504.',
    fix: 'use a number of milliseconds from 100 to 120000',
  },
  REQUEST_TIMEOUT_MS: {
    schema: z.coerce.number().int().min(100).max(600000).default(30000),
    doc: 'Longest time a client may take to send a whole request, headers and body; a slower one is answered 408 and its connection closed, so slow senders cannot hold connections open (threat model H7). Answers may take longer.',
    fix: 'use a number of milliseconds from 100 to 600000, at least HEADERS_TIMEOUT_MS',
  },
  HEADERS_TIMEOUT_MS: {
    schema: z.coerce.number().int().min(100).max(600000).default(10000),
    doc: "Longest time a client may take to send a request's headers (threat model H7). At most `REQUEST_TIMEOUT_MS`.",
    fix: 'use a number of milliseconds from 100 to 600000, at most REQUEST_TIMEOUT_MS',
  },
  SHUTDOWN_TIMEOUT_MS: {
    schema: z.coerce.number().int().min(0).max(600000).default(10000),
    doc: "On SIGTERM or SIGINT, how long requests in flight may take to finish before their connections are closed and the process exits. Keep it below the orchestrator's grace period (Kubernetes: `terminationGracePeriodSeconds`, 30 s by default).",
    fix: 'use a number of milliseconds from 0 to 600000',
  },
  METRICS_PORT: {
    schema: z.coerce.number().int().min(0).max(65535).default(9464),
    doc: 'TCP port of the Prometheus metrics listener (`GET /metrics`), separate from `PORT` so it is never published with the app. `0` turns it off.',
    fix: 'use a number from 1 to 65535, or 0 to turn metrics off',
  },
  METRICS_HOST: {
    schema: z.string().min(1).optional(),
    doc: 'Address the metrics listener binds. Default: the same as `HOST` (in production every interface, so a Prometheus in the cluster can scrape the pod; in development `127.0.0.1`); the metrics carry no secrets, but keep the port out of any Service or Ingress open to the internet.',
    fix: 'use an address such as 127.0.0.1 or 0.0.0.0',
  },
  TELEGRAM_BOT_TOKEN: {
    schema: z
      .string()
      .regex(/^\d{1,20}:[A-Za-z0-9_-]{30,100}$/, 'is not a bot token from @BotFather')
      .optional(),
    doc: 'oauth3\'s own Telegram bot, which owners link their chat to from the console (see "oauth3\'s Telegram bot"). Unset: no bot runs. Not the bots owners connect for the Telegram plugin.',
    fix: 'paste the token @BotFather gave for the bot, such as 123456789:AA…',
  },
  TELEGRAM_WEBHOOK_URL: {
    schema: z.url({ protocol: /^https$/ }).optional(),
    doc: 'Where Telegram delivers updates to the bot: the https address of `/telegram/webhook` on this server, such as `https://auth.example.com/telegram/webhook`. Unset: one process fetches them by long polling (development).',
    fix: 'set an https URL ending in /telegram/webhook, or unset it for long polling',
  },
  LOG_LEVEL: {
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    doc: 'pino log level.',
    fix: 'use fatal, error, warn, info, debug, trace or silent',
  },
} as const satisfies Record<string, Setting>;

/** Core settings and the ones the built-in plugins bring (src/plugins/builtin.ts). */
export const settings = { ...coreSettings, ...pluginSettings };

type Settings = typeof settings;
type Parsed = { [K in keyof Settings]: z.output<Settings[K]['schema']> };

export interface Config extends Omit<
  Parsed,
  'ISSUER' | 'RESOURCE_URL' | 'COOKIE_KEYS' | 'MASTER_KEY_PREVIOUS' | 'DSTACK_KEY_PATHS_PREVIOUS' | 'WORKERS'
> {
  /** Worker processes (src/cluster/): 1 is one process and no cluster at all. */
  WORKERS: number;
  MASTER_KEY_PREVIOUS: string[];
  DSTACK_KEY_PATHS_PREVIOUS: string[];
  ISSUER: string;
  RESOURCE_URL: string;
  /** The MCP server's resource (RFC 8707 audience of its tokens): always `$ISSUER/mcp`, where it answers. */
  MCP_URL: string;
  COOKIE_KEYS: string[] | undefined;
  /** WebAuthn relying party: the issuer's host and origin. */
  RP_ID: string;
  ORIGIN: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`oauth3 cannot start, the configuration has ${problems.length} problem(s):\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * The address the app binds: `HOST`, else this machine only outside production, so a development server with its
 * generated keys is never reachable from the network by accident; in production every interface (a container's port).
 */
export const appHost = (config: Pick<Config, 'HOST' | 'NODE_ENV'>): string | undefined =>
  config.HOST ?? (config.NODE_ENV === 'production' ? undefined : '127.0.0.1');

/** The address the metrics listener binds: `METRICS_HOST`, else the app's. */
export const metricsHost = (config: Pick<Config, 'HOST' | 'METRICS_HOST' | 'NODE_ENV'>): string | undefined =>
  config.METRICS_HOST ?? appHost(config);

export function decodeKey(value: string): Buffer | undefined {
  const v = value.trim();
  if (/^[0-9a-f]{64}$/i.test(v)) return Buffer.from(v, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(v)) return Buffer.from(v.replace(/\+/g, '-').replace(/\//g, '_'), 'base64url');
  return undefined;
}

/** Parses an environment (normally `process.env`); throws a ConfigError naming every bad key. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings)) {
    const raw = env[key] === '' ? undefined : env[key];
    const result = (setting.schema as z.ZodType).safeParse(raw);
    if (result.success) out[key] = result.data;
    else problems.push(`${key}: ${result.error.issues[0]?.message ?? 'invalid'} (${setting.fix})`);
  }

  // Keep checking past malformed values, so the one message also names what production requires (every bad key at once).
  const parsed = out as Parsed;
  const issuer = (parsed.ISSUER ?? `http://localhost:${parsed.PORT ?? coreSettings.PORT.schema.parse(undefined)}`).replace(/\/+$/, '');
  const issuerUrl = 'ISSUER' in out ? new URL(issuer) : undefined;
  if (issuerUrl && (issuerUrl.search || issuerUrl.hash || issuerUrl.pathname !== '/')) {
    problems.push('ISSUER: must be an origin without path, query or fragment (set e.g. https://auth.example.com)');
  }

  // Node refuses a header limit longer than the whole request's (http.createServer).
  if (parsed.HEADERS_TIMEOUT_MS > parsed.REQUEST_TIMEOUT_MS) {
    problems.push(
      `HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS (${parsed.REQUEST_TIMEOUT_MS}) (${coreSettings.HEADERS_TIMEOUT_MS.fix})`,
    );
  }

  const fromDstack = parsed.MASTER_KEY_SOURCE === 'dstack';
  if (fromDstack) {
    // The whole point of the TEE mode is that no one outside the confidential VM holds the key (threat model J10).
    if (parsed.MASTER_KEY)
      problems.push('MASTER_KEY and MASTER_KEY_SOURCE=dstack: choose one (with dstack the key comes from the TEE; unset MASTER_KEY)');
    if (parsed.MASTER_KEY_PREVIOUS?.length)
      problems.push('MASTER_KEY_PREVIOUS and MASTER_KEY_SOURCE=dstack: choose one (earlier dstack keys go in DSTACK_KEY_PATHS_PREVIOUS)');
    if (parsed.DSTACK_KEY_PATHS_PREVIOUS?.includes(parsed.DSTACK_KEY_PATH))
      problems.push('DSTACK_KEY_PATHS_PREVIOUS: must not list DSTACK_KEY_PATH, the current key path');
  } else if (parsed.DSTACK_KEY_PATHS_PREVIOUS?.length) {
    problems.push('DSTACK_KEY_PATHS_PREVIOUS: only with MASTER_KEY_SOURCE=dstack (set it, or unset DSTACK_KEY_PATHS_PREVIOUS)');
  }

  if (parsed.NODE_ENV === 'production') {
    if (issuerUrl && issuerUrl.protocol !== 'https:') problems.push('ISSUER: must be https in production (set ISSUER=https://your.host)');
    if ('MASTER_KEY' in out && !parsed.MASTER_KEY && !fromDstack)
      problems.push(`MASTER_KEY: required in production (${coreSettings.MASTER_KEY.fix}), or MASTER_KEY_SOURCE=dstack in a TEE`);
    if (fromDstack && parsed.DSTACK_SIMULATOR_ENDPOINT)
      problems.push('DSTACK_SIMULATOR_ENDPOINT: development only; a simulator proves nothing (unset it and mount the guest agent socket)');
    // In a TEE the cookie keys are made inside it and sealed like everything else, so the operator never holds them.
    if ('COOKIE_KEYS' in out && !parsed.COOKIE_KEYS && !fromDstack)
      problems.push(`COOKIE_KEYS: required in production (${coreSettings.COOKIE_KEYS.fix}), or MASTER_KEY_SOURCE=dstack in a TEE`);
    // SSRF escape hatches for a local document server (threat model J4): never in production.
    if (parsed.CLIENT_METADATA_ALLOW_HOSTS?.length)
      problems.push('CLIENT_METADATA_ALLOW_HOSTS: development and tests only (unset it in production)');
    if (parsed.CLIENT_METADATA_DEV_CA_FILE)
      problems.push('CLIENT_METADATA_DEV_CA_FILE: development and tests only (unset it in production)');
    if (parsed.UPSTREAM_OWN_ALLOW_HOSTS?.length)
      problems.push('UPSTREAM_OWN_ALLOW_HOSTS: development and tests only (unset it in production)');
  }
  if (parsed.TELEGRAM_WEBHOOK_URL && !parsed.TELEGRAM_BOT_TOKEN && 'TELEGRAM_BOT_TOKEN' in out) {
    problems.push('TELEGRAM_WEBHOOK_URL: needs TELEGRAM_BOT_TOKEN (set the bot token, or unset the webhook URL)');
  }
  if (parsed.RESOURCE_URL && issuerUrl && parsed.RESOURCE_URL.replace(/\/+$/, '') === `${issuer}/mcp`) {
    problems.push(`RESOURCE_URL: must not be ${issuer}/mcp, the MCP server's own resource (${coreSettings.RESOURCE_URL.fix})`);
  }
  // PGlite is one process per data directory (src/db/embedded-lock.ts): several workers need a shared Postgres.
  if (parsed.WORKERS !== undefined && parsed.WORKERS > 1 && !parsed.DATABASE_URL && 'DATABASE_URL' in out) {
    problems.push(
      `WORKERS=${parsed.WORKERS} needs DATABASE_URL: the embedded database serves one process (set DATABASE_URL to a Postgres, or WORKERS=1)`,
    );
  }
  if (problems.length || !issuerUrl) throw new ConfigError(problems);

  return {
    ...parsed,
    ISSUER: issuer,
    WORKERS: parsed.WORKERS ?? (parsed.NODE_ENV === 'production' && parsed.DATABASE_URL ? availableParallelism() : 1),
    MASTER_KEY_PREVIOUS: parsed.MASTER_KEY_PREVIOUS ?? [],
    DSTACK_KEY_PATHS_PREVIOUS: parsed.DSTACK_KEY_PATHS_PREVIOUS ?? [],
    RESOURCE_URL: (parsed.RESOURCE_URL ?? `${issuer}/api`).replace(/\/+$/, ''),
    MCP_URL: `${issuer}/mcp`,
    RP_ID: issuerUrl.hostname,
    ORIGIN: issuerUrl.origin,
  };
}

const defaultText = (value: unknown): string =>
  Array.isArray(value) ? value.join(',') : typeof value === 'string' ? value : JSON.stringify(value);

/** The README's configuration table, generated from `settings`. */
export function configTable(): string {
  const rows = Object.entries(settings).map(([key, s]) => {
    const def = (s.schema as z.ZodType).safeParse(undefined);
    const text = def.success && def.data !== undefined ? defaultText(def.data) : '';
    // An empty default (an empty list) shows as no default, never as an empty code span.
    const shown = text ? `\`${text}\`` : '';
    return `| \`${key}\` | ${shown} | ${s.doc} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

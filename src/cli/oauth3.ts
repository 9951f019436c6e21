import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, decodeKey, loadConfig, type Config } from '../config.js';
import { createLogger } from '../logger.js';
import { openDatabase } from '../db/open.js';
import { migrate } from '../db/migrate.js';
import { EmbeddedStorageBusy } from '../db/embedded-lock.js';
import type { Database } from '../db/database.js';
import { ClientStore } from '../clients/store.js';
import { loadMasterKeyRing } from '../keys/master-key.js';
import type { MasterKeyRing } from '../keys/sealing.js';
import { rewrapAll } from './rotate-master.js';
import { beginDevKeyRotation } from './dev-master-key.js';
import { rotateSigningKeys } from '../keys/keystore.js';
import { deleteExpired, modelStorage } from '../../adapters/index.js';
import { adminSocketPath, sendToServer } from './admin-socket.js';
import {
  INITIAL_ACCESS_TOKEN,
  createInitialAccessToken,
  parseDuration,
  revokeInitialAccessToken,
} from '../registration/initial-access-tokens.js';
import { scopeCatalogFor } from '../plugins/scope-catalog.js';
import { PluginRegistry } from '../plugins/registry.js';
import { loadBuiltinPlugins } from '../plugins/load.js';
import { ScopeCatalog } from '../../scopes/catalog.js';
import { runVerify, VERIFY_USAGE } from './verify.js';
import { databaseProblem } from './database-problem.js';
import type { ClientSummary } from '../clients/store.js';

const USAGE = `Usage: npm run oauth3 -- <command>

  clients add --name NAME --redirect-uri URI [--redirect-uri URI ...] [--public]
              [--grant authorization_code|refresh_token|client_credentials|device_code|token_exchange ...]
              [--scope "a b"] [--logo-uri https://...] [--id-token-alg ES256|RS256] [--resource-server] [--json]
              (--redirect-uri: needed with the authorization_code grant, the default;
               --resource-server: may introspect every access token for the resource API; alone, it
               registers a machine client: the client_credentials grant, no redirect URI)
  clients list [--json]
  clients remove CLIENT_ID
  registration-tokens create [--expires-in 1d] [--json]
                       an initial access token for dynamic client registration (REGISTRATION=token,
                       POST /reg with "Authorization: Bearer TOKEN"); reusable until it expires
                       (--expires-in: seconds or 30m, 12h, 7d; default 1d, at most 90d); shown once
  registration-tokens revoke TOKEN
  keys rotate [--activate-in SECONDS]
                       add new signing keys, published at once and used from SECONDS on (default 0,
                       3600 in production); the old ones stay published until their tokens expire
  keys rotate-master [--generate]
                       re-wrap every stored credential, signing key and cookie key under MASTER_KEY
                       (earlier keys in MASTER_KEY_PREVIOUS), after which the earlier keys can be removed;
                       --generate (development key file only): make a new DATA_DIR/master.key first
  migrate              apply database migrations
  cleanup              delete expired codes, tokens, sessions and challenges
${VERIFY_USAGE}`;

type Out = (line: string) => void;
type Parsed = ReturnType<typeof parse>;

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      public: { type: 'boolean' },
      grant: { type: 'string', multiple: true },
      scope: { type: 'string' },
      'logo-uri': { type: 'string' },
      'id-token-alg': { type: 'string' },
      'resource-server': { type: 'boolean' },
      'activate-in': { type: 'string' },
      'expires-in': { type: 'string' },
      generate: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/**
 * The admin command line. Returns the exit code; writes results to `out` and problems to `err`. On embedded storage
 * held by a running server, the command is handed to that server over its admin socket (DATA_DIR/admin.sock).
 */
export async function runCli(argv: string[], env = process.env, out: Out = console.log, err: Out = console.error): Promise<number> {
  // An outsider's command: no configuration, database or master key (docs/verifying.md).
  if (argv[0] === 'verify') return runVerify(argv.slice(1), env, out, err);
  let parsed: Parsed;
  try {
    parsed = parse(argv);
  } catch (error) {
    err(`${(error as Error).message}\n\n${USAGE}`);
    return 64;
  }
  const { values, positionals } = parsed;
  const command = positionals.join(' ');
  if (values.help || !command) {
    out(USAGE);
    return values.help ? 0 : 64;
  }

  // Mistyped flags are told at once, before the seconds it takes to open storage.
  const problem = command === 'clients add' ? clientsAddProblem(values) : undefined;
  if (problem) {
    err(problem);
    return 64;
  }

  let config: Config;
  let scopes: ScopeCatalog;
  try {
    config = loadConfig(env);
    // The scopes a server would know, from the same plugins and providers, though this process serves nothing: a
    // client's scopes are checked against them (threat model I7). Other commands need none, and run even while a
    // provider's configuration is being fixed.
    scopes = command === 'clients add' ? scopeCatalogFor(config, new PluginRegistry(await loadBuiltinPlugins())) : new ScopeCatalog();
  } catch (error) {
    if (error instanceof ConfigError) {
      err(error.message);
      return 78;
    }
    throw error;
  }

  let db: Database;
  try {
    db = await openDatabase(config, `oauth3 ${command}`, { migrate: command !== 'migrate' });
  } catch (error) {
    // Postgres down or refusing us: one line saying where and what to check, not a driver's stack trace.
    const problem = databaseProblem(error, config.DATABASE_URL, config.DATABASE_TIMEOUT_MS);
    if (problem) {
      err(problem);
      return 69;
    }
    if (error instanceof EmbeddedStorageBusy) {
      const viaServer = await sendToServer(adminSocketPath(config.DATA_DIR), argv);
      if (viaServer) {
        viaServer.out.forEach((line) => out(line));
        viaServer.err.forEach((line) => err(line));
        return viaServer.code;
      }
      err(error.message);
      return 75;
    }
    throw error;
  }
  try {
    return await execute(parsed, { config, db, scopes }, out, err);
  } catch (error) {
    const problem = databaseProblem(error, config.DATABASE_URL, config.DATABASE_TIMEOUT_MS);
    if (!problem) throw error;
    err(problem);
    return 69;
  } finally {
    await db.close().catch(() => undefined);
  }
}

/** The grants `--grant` takes: the short names for the device and token exchange grants' URNs (RFC 8628, RFC 8693). */
const GRANTS: Record<string, string> = {
  authorization_code: 'authorization_code',
  refresh_token: 'refresh_token',
  client_credentials: 'client_credentials',
  device_code: 'urn:ietf:params:oauth:grant-type:device_code',
  token_exchange: 'urn:ietf:params:oauth:grant-type:token-exchange',
};
const grantTypeOf = (grant: string) => GRANTS[grant] ?? (Object.values(GRANTS).includes(grant) ? grant : undefined);

/** A client as `--json` prints it: the field names of the text output and of RFC 7591 (client_id, client_secret, …). */
const clientJson = (c: ClientSummary, clientSecret?: string) => ({
  client_id: c.clientId,
  ...(clientSecret ? { client_secret: clientSecret } : {}),
  name: c.name,
  public: c.public,
  redirect_uris: c.redirectUris,
  grant_types: c.grantTypes,
  ...(c.scope ? { scope: c.scope } : {}),
  resource_server: c.resourceServer ?? false,
  created_at: c.createdAt,
});

/**
 * The mistakes a person makes with `clients add`, told before anything is stored, in words that say what to type;
 * undefined when the flags make sense (the store still checks everything).
 */
function clientsAddProblem(values: Parsed['values']): string | undefined {
  if (!values.name?.trim()) return '--name is required: the name owners see on the consent page, e.g. --name "My app"';
  const unknown = (values.grant ?? []).filter((g) => !grantTypeOf(g));
  if (unknown.length)
    return `--grant: unknown grant ${unknown.map((g) => `'${g}'`).join(', ')}; known grants: ${Object.keys(GRANTS).join(', ')}`;
  const alg = values['id-token-alg'];
  if (alg !== undefined && alg !== 'ES256' && alg !== 'RS256') return `--id-token-alg: '${alg}' is not offered; use ES256 or RS256`;
  if (values['logo-uri'] !== undefined && !/^https:\/\/[^/]/i.test(values['logo-uri']))
    return `--logo-uri: '${values['logo-uri']}' is not an https URL; use one such as https://example.com/logo.png`;
  const grants = values.grant?.map(grantTypeOf) ?? (values['resource-server'] ? [] : ['authorization_code']);
  if (grants.includes('authorization_code') && !values['redirect-uri']?.length)
    return (
      '--redirect-uri is required: an app that signs owners in (the authorization_code grant, the default) gets them back ' +
      'there, e.g. --redirect-uri http://localhost:8080/callback; a machine client takes --grant client_credentials instead'
    );
  return undefined;
}

/** The flag a person typed for each field of NewClient, so a refusal names it exactly. */
const FLAGS: Record<string, string> = {
  name: '--name',
  redirectUris: '--redirect-uri',
  public: '--public',
  grantTypes: '--grant',
  scope: '--scope',
  logoUri: '--logo-uri',
  idTokenAlg: '--id-token-alg',
  resourceServer: '--resource-server',
};

/** Runs one parsed command on an open database (here, or inside the server for the admin socket). */
export async function execute(
  { values, positionals }: Parsed,
  {
    config,
    db,
    ring,
    scopes,
    clients = new ClientStore(db, undefined, scopes),
  }: { config: Config; db: Database; ring?: MasterKeyRing; scopes: ScopeCatalog; clients?: ClientStore },
  out: Out,
  err: Out,
): Promise<number> {
  const command = positionals.join(' ');
  try {
    switch (['clients', 'registration-tokens'].includes(positionals[0] ?? '') ? `${positionals[0]} ${positionals[1] ?? ''}` : command) {
      case 'clients add': {
        const problem = clientsAddProblem(values);
        if (problem) {
          err(problem);
          return 64;
        }
        const redirectUris = values['redirect-uri'] ?? [];
        const resourceServer = values['resource-server'] ?? false;
        // A resource server only introspects: alone, it is a machine client (client credentials, no redirect URI).
        const grantTypes = values.grant?.map(grantTypeOf) ?? (resourceServer && !redirectUris.length ? ['client_credentials'] : undefined);
        const { client, clientSecret } = await clients.add({
          name: values.name ?? '',
          redirectUris,
          public: values.public ?? false,
          grantTypes: grantTypes as never,
          scope: values.scope,
          logoUri: values['logo-uri'],
          idTokenAlg: values['id-token-alg'] as never,
          resourceServer,
        });
        if (values.json) out(JSON.stringify(clientJson(client, clientSecret), null, 2));
        else {
          out(`Created client "${client.name}"`);
          out(`  client_id:     ${client.clientId}`);
          // As kept (normalised, threat model F6): authorization requests must name them exactly so.
          for (const uri of client.redirectUris) out(`  redirect_uri:  ${uri}`);
          out(`  grant_types:   ${client.grantTypes.join(' ')}`);
          if (client.scope) out(`  scope:         ${client.scope}`);
          if (client.resourceServer) out('  resource_server: yes (may introspect every access token for the resource API)');
          if (clientSecret)
            out(`  client_secret: ${clientSecret}\n\nStore the secret now: it is kept only as a hash and cannot be shown again.`);
        }
        return 0;
      }
      case 'clients list': {
        const list = await clients.list();
        if (values.json)
          out(
            JSON.stringify(
              list.map((c) => clientJson(c)),
              null,
              2,
            ),
          );
        else if (!list.length) out('No clients yet. Add one with: npm run oauth3 -- clients add --name ... --redirect-uri ...');
        else
          for (const c of list)
            out(
              `${c.clientId}  ${c.name}  ${c.public ? 'public' : 'confidential'}  ${c.grantTypes.join(',')}  ${c.redirectUris.join(' ')}${c.resourceServer ? '  resource-server' : ''}`,
            );
        return 0;
      }
      case 'clients remove': {
        const id = positionals[2];
        if (!id) {
          err('Usage: npm run oauth3 -- clients remove CLIENT_ID');
          return 64;
        }
        if (!(await clients.remove(id))) {
          err(`No client with id ${id}.`);
          return 1;
        }
        out(`Removed client ${id} and every grant and token issued to it.`);
        return 0;
      }
      case 'registration-tokens create': {
        const expiresIn = parseDuration(values['expires-in'] ?? '1d');
        if (!expiresIn) {
          err('--expires-in: use seconds or a duration such as 30m, 12h or 7d (at most 90d)');
          return 65;
        }
        const { token, expiresAt } = await createInitialAccessToken(modelStorage(db, INITIAL_ACCESS_TOKEN), expiresIn);
        if (values.json) out(JSON.stringify({ initial_access_token: token, expires_at: expiresAt.toISOString() }, null, 2));
        else {
          out(`Initial access token (shown once):`);
          out(`  initial_access_token: ${token}`);
          out(`  expires_at:           ${expiresAt.toISOString()}`);
          if (config.REGISTRATION !== 'token')
            out(`\nNote: REGISTRATION is ${config.REGISTRATION}; the server asks for this token only with REGISTRATION=token.`);
        }
        return 0;
      }
      case 'registration-tokens revoke': {
        const token = positionals[2];
        if (!token) {
          err('Usage: npm run oauth3 -- registration-tokens revoke TOKEN');
          return 64;
        }
        if (!(await revokeInitialAccessToken(modelStorage(db, INITIAL_ACCESS_TOKEN), token))) {
          err('No such initial access token (expired, revoked, or mistyped).');
          return 1;
        }
        out('Revoked the initial access token; clients it registered stay registered.');
        return 0;
      }
      case 'keys rotate': {
        const ring = await loadMasterKeyRing(config, createLogger('warn'));
        const keep = Math.max(config.ACCESS_TOKEN_TTL, config.ID_TOKEN_TTL) + 3600;
        // Several replicas (production): publish for an hour before signing, so every server and verifier has it.
        const activateIn = Number(values['activate-in'] ?? (config.NODE_ENV === 'production' ? 3600 : 0));
        if (!Number.isInteger(activateIn) || activateIn < 0) {
          err('--activate-in: must be a whole number of seconds, 0 or more');
          return 65;
        }
        const kids = await rotateSigningKeys(db, ring, keep, activateIn);
        out(
          `New signing keys: ${kids.join(', ')}. They are published at the next start of each server and sign from ` +
            `${activateIn ? `${activateIn} s from now (restart the servers after that)` : 'the next start'}; ` +
            `the previous keys stay published ${keep} s after that.`,
        );
        return 0;
      }
      case 'keys rotate-master':
        return await rotateMaster({ config, db, ring, generate: values.generate ?? false }, out, err);
      case 'migrate': {
        const applied = await migrate(db);
        out(applied.length ? `Applied migrations: ${applied.join(', ')}` : 'The database is up to date.');
        return 0;
      }
      case 'cleanup': {
        out(`Deleted ${await deleteExpired(db)} expired rows.`);
        return 0;
      }
      default:
        err(`Unknown command: ${command}\n\n${USAGE}`);
        return 64;
    }
  } catch (error) {
    if (error instanceof z.ZodError) {
      err(error.issues.map((i) => `${FLAGS[String(i.path[0])] ?? '--' + String(i.path[0] ?? 'input')}: ${i.message}`).join('\n'));
      return 65;
    }
    throw error;
  }
}

/**
 * `keys rotate-master` (threat model G4). Run inside the server over the admin socket on embedded storage, it uses the
 * server's own key ring (`ring`), so the running server seals with the new key from that moment on.
 */
async function rotateMaster(
  { config, db, ring, generate }: { config: Config; db: Database; ring?: MasterKeyRing; generate: boolean },
  out: Out,
  err: Out,
): Promise<number> {
  if (generate && config.MASTER_KEY_SOURCE === 'dstack') {
    err(
      '--generate replaces the development key file only. With MASTER_KEY_SOURCE=dstack: set DSTACK_KEY_PATH to the next version ' +
        '(oauth3/master/v2), list the old path in DSTACK_KEY_PATHS_PREVIOUS, restart the servers, then run this command without --generate.',
    );
    return 64;
  }
  if (generate && config.MASTER_KEY) {
    err(
      '--generate replaces the development key file only. With MASTER_KEY set: put a new key in MASTER_KEY and the old one in ' +
        'MASTER_KEY_PREVIOUS, restart the servers, then run this command without --generate.',
    );
    return 64;
  }
  const rotation = generate
    ? beginDevKeyRotation(
        config.DATA_DIR,
        config.MASTER_KEY_PREVIOUS.map((k) => decodeKey(k)!),
        ring,
      )
    : undefined;
  const keys = rotation?.ring ?? ring ?? (await loadMasterKeyRing(config, createLogger('warn')));
  const counts = await rewrapAll(db, keys);
  for (const c of counts) out(`${c.table}: ${c.rewrapped} re-wrapped, ${c.current} already under the current key`);
  const failed = counts.filter((c) => c.failed.length);
  for (const c of failed) {
    err(
      `${c.table}: ${c.failed.length} value(s) could not be opened (${c.failed.slice(0, 10).join(', ')}): sealed under a key that is ` +
        `not configured, or altered. Add the missing key to ${config.MASTER_KEY_SOURCE === 'dstack' ? 'DSTACK_KEY_PATHS_PREVIOUS (its key path)' : 'MASTER_KEY_PREVIOUS'} and run this command again.`,
    );
  }
  if (failed.length) return 1;
  rotation?.finish();
  out(
    `Everything is sealed under master key ${keys.current.id}. ` +
      (generate
        ? 'DATA_DIR/master.key now holds the new key; the old one is kept in DATA_DIR/master.key.previous: delete that file once every server has restarted.'
        : config.MASTER_KEY_SOURCE === 'dstack'
          ? 'The earlier key paths can now be removed from DSTACK_KEY_PATHS_PREVIOUS; restart the servers without them.'
          : 'The earlier keys can now be removed from MASTER_KEY_PREVIOUS (and DATA_DIR/master.key.previous); restart the servers without them.'),
  );
  return 0;
}

export { parse as parseCommand };

if (
  import.meta.url === `file://${process.argv[1]}` ||
  process.argv[1]?.endsWith('/cli/oauth3.ts') ||
  process.argv[1]?.endsWith('/cli/oauth3.js')
) {
  process.exitCode = await runCli(process.argv.slice(2));
}

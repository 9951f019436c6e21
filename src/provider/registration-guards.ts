import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { AppError } from '../errors.js';
import { RateLimiter } from '../rate-limit.js';
import { readBody } from '../http/body.js';
import { clientAddress } from '../http/client-address.js';
import { secretMatches } from '../clients/secrets.js';
import { isStoredForm } from '../clients/secrets.js';
import { PROVIDER_ROUTES } from './routes.js';

/** A registered client's configuration endpoint (RFC 7592) below the registration endpoint (RFC 7591). */
const CLIENT_CONFIGURATION = new RegExp(`^${PROVIDER_ROUTES.registration}/([^/]+)$`);
/** oidc-provider's names for the routes that answer with a registered client's metadata (its router's own match). */
const ANSWERS_WITH_CLIENT = new Set(['registration', 'client', 'client_update']);

/**
 * What oidc-provider's registration endpoints need around them in oauth3, as named stages:
 * - `limitOpenRegistration`: with REGISTRATION=open, each IP address may register a few clients an hour.
 * - `acceptPresentedSecret`: RFC 7592 §2.2 lets an update carry the client's current secret; oauth3 keeps only its
 *   digest, so the presented secret is checked here and replaced by the stored form oidc-provider compares against.
 * - `hideStoredSecret`: a read or update answers without `client_secret`, which oauth3 no longer knows (F2): the
 *   stored digests are never shown; a new secret (a public client turned confidential) is shown once.
 */
export function registrationGuards({ config, db, provider }: { config: Config; db: Database; provider: Provider }): Middleware[] {
  // fail-then-check: each attempt counts at once, so parallel requests cannot slip past the limit.
  const limiter = new RateLimiter(db, config.REGISTRATION_PER_HOUR + 1, 3600);

  const limitOpenRegistration: Middleware = async function limitOpenRegistration(ctx, next): Promise<unknown> {
    if (config.REGISTRATION !== 'open' || ctx.method !== 'POST' || ctx.path !== PROVIDER_ROUTES.registration) return next();
    const key = `registration:${clientAddress(ctx)}`;
    await limiter.fail(key);
    await limiter.check(key).catch((cause: unknown) => {
      throw new AppError('too_many_requests', 429, 'Too many client registrations from this address. Try again in an hour.', { cause });
    });
    return next();
  };

  const acceptPresentedSecret: Middleware = async function acceptPresentedSecret(ctx, next): Promise<unknown> {
    const clientId = CLIENT_CONFIGURATION.exec(ctx.path)?.[1];
    if (ctx.method !== 'PUT' || !clientId || !ctx.is('application/json')) return next();
    const body = await readBody(ctx);
    const presented = (body as { client_secret?: unknown } | null)?.client_secret;
    if (typeof presented === 'string') {
      const client = await provider.Client.find(decodeURIComponent(clientId));
      if (client?.clientSecret && secretMatches(client.clientSecret, presented))
        (body as { client_secret: string }).client_secret = client.clientSecret;
    }
    // oidc-provider reads an already parsed body from here.
    (ctx.request as { body?: unknown }).body = body;
    return next();
  };

  const hideStoredSecret: Middleware = async function hideStoredSecret(ctx, next) {
    await next();
    // Decided by the route oidc-provider dispatched to, not by a path of our own: whatever path reached a client's
    // metadata, its answer never carries a stored digest (threat model F7).
    const route = (ctx as { oidc?: { route?: string } }).oidc?.route;
    if (!route || !ANSWERS_WITH_CLIENT.has(route) || !ctx.body || typeof ctx.body !== 'object') return;
    const body = ctx.body as { client_secret?: unknown; client_secret_expires_at?: unknown };
    if (typeof body.client_secret === 'string' && isStoredForm(body.client_secret)) {
      delete body.client_secret;
      delete body.client_secret_expires_at;
    }
  };

  return [limitOpenRegistration, acceptPresentedSecret, hideStoredSecret];
}

/**
 * Client metadata documents are fetched on a stranger's say-so (any client_id that is an https URL): each address
 * may make oauth3 fetch `perHour` documents it has not cached, so nobody turns the server into a crawler. Counted
 * before the fetch (fail-then-check), like open registration, so parallel requests cannot slip past the limit.
 */
export function allowMetadataFetches(db: Database, perHour: number): (ctx: Pick<Context, 'req' | 'app'>) => Promise<boolean> {
  const limiter = new RateLimiter(db, perHour + 1, 3600);
  return async (ctx) => {
    const key = `metadata-fetch:${clientAddress(ctx)}`;
    await limiter.fail(key);
    return limiter.check(key).then(
      () => true,
      () => false,
    );
  };
}

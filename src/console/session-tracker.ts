import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import { storageKey } from '../db/at-rest-keys.js';

interface SessionLike {
  uid: string;
  jti: string;
  accountId?: string;
  exp?: number;
}

/**
 * Keeps `browser_sessions` in step with oidc-provider's sessions (wherever they are stored), so the owner can see
 * every signed-in browser and end any of them. oidc-provider saves a session only inside its own routes
 * (lib/shared/session.js), as `ctx.oidc.session`: its `saved` event marks the session, and this middleware, around
 * those routes, records it with the browser and address of the request that saved it. (Not AsyncLocalStorage: on
 * Node 20 it slows every promise in the process, the resource API's included.) The write is awaited by nobody: a
 * failure is logged, never shown.
 */
export function trackBrowserSessions(provider: Provider, db: Database, logger: Logger): Middleware {
  const saved = new WeakSet<object>();
  provider.on('session.saved', (session: SessionLike) => {
    if (session.accountId) saved.add(session);
  });
  provider.on('session.destroyed', (session: SessionLike) => {
    db.query('DELETE FROM browser_sessions WHERE uid = $1', [session.uid]).catch((err: unknown) =>
      logger.warn({ err }, 'could not forget browser session'),
    );
  });

  return async function recordBrowserSession(ctx, next) {
    await next();
    const session = (ctx as { oidc?: { session?: SessionLike } }).oidc?.session;
    if (!session || !saved.has(session) || !session.accountId) return;
    saved.delete(session);
    db.query(
      `INSERT INTO browser_sessions (uid, session_id, account_id, user_agent, ip, expires_at)
       VALUES ($1, $2, $3, $4, $5, to_timestamp($6))
       ON CONFLICT (uid) DO UPDATE SET session_id = excluded.session_id, account_id = excluded.account_id,
         user_agent = COALESCE(excluded.user_agent, browser_sessions.user_agent), ip = COALESCE(excluded.ip, browser_sessions.ip),
         last_seen_at = now(), expires_at = excluded.expires_at`,
      // The session's id is its cookie: only its digest, the Session entry's key, is kept (docs/threat-model.md J2).
      [
        session.uid,
        storageKey('Session', session.jti),
        session.accountId,
        ctx.get('user-agent').slice(0, 300) || null,
        ctx.ip || null,
        session.exp ?? null,
      ],
    ).catch((err: unknown) => logger.warn({ err }, 'could not record browser session'));
  };
}

import type { Database } from './database.js';

/**
 * Deletes our own rows whose lifetime has passed (passkey challenges, rate-limit windows, interaction decisions,
 * device poll counts, DPoP proof ids, retired keys, Telegram update ids and link nonces, the bot's messages a month
 * after they were sent, cancelled or given up, browsers unseen for 400 days, and the delegation rows of exchanged
 * tokens that have expired). oidc-provider's rows are the storage
 * adapters' to sweep; the server runs both every 10 minutes, `oauth3 cleanup` on demand.
 */
export async function deleteExpiredRows(db: Database): Promise<number> {
  const results = await Promise.all([
    db.query('DELETE FROM webauthn_challenges WHERE expires_at < now()'),
    db.query('DELETE FROM rate_limits WHERE expires_at < now()'),
    db.query('DELETE FROM device_polls WHERE expires_at < now()'),
    db.query('DELETE FROM interaction_decisions WHERE expires_at < now()'),
    db.query('DELETE FROM dpop_replay WHERE expires_at < now()'),
    db.query('DELETE FROM keys WHERE remove_after < now()'),
    db.query('DELETE FROM telegram_updates WHERE expires_at < now()'),
    db.query('DELETE FROM telegram_link_nonces WHERE expires_at < now()'),
    // Edits point at the message they change: an old message goes with its edits (ON DELETE CASCADE).
    db.query("DELETE FROM telegram_outbox WHERE status <> 'pending' AND created_at < now() - interval '30 days'"),
    db.query('DELETE FROM known_browsers WHERE expires_at < now()'),
    // An exchanged token's grant ends with it, and nothing below it outlives it (src/provider/token-exchange.ts).
    db.query('DELETE FROM grant_delegations WHERE expires_at < now()'),
  ]);
  return results.reduce((sum, r) => sum + r.rowCount, 0);
}

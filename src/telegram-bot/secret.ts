import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header Telegram sends the webhook's secret_token in. */
export const SECRET_HEADER = 'x-telegram-bot-api-secret-token';

/**
 * The webhook's secret_token: HMAC-SHA256 of a fixed label keyed by the bot token, base64url (43 characters of
 * [A-Za-z0-9_-], within Telegram's 1–256). Every replica derives the same one and nothing needs storing; a new bot
 * token gives a new secret.
 */
export function webhookSecret(botToken: string): string {
  return createHmac('sha256', botToken).update('oauth3 telegram webhook secret v1').digest('base64url');
}

/** Constant-time comparison of the header a request brought with the secret. */
export function isWebhookSecret(presented: string | string[] | undefined, secret: string): boolean {
  if (typeof presented !== 'string') return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

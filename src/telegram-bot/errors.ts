import { GrammyError, HttpError } from 'grammy';

/**
 * An error from grammY or the Bot API as a log line may show it. grammY's HttpError wraps fetch's error, whose message
 * holds the request URL, `…/bot<token>/getUpdates`: so only the method, Telegram's code and our own words travel, and
 * anything quoted is scrubbed of the token (threat model G2).
 */
export function loggableTelegramError(error: unknown, botToken: string): Record<string, unknown> {
  const scrub = (text: string) => text.split(botToken).join('[bot token]').split(encodeURIComponent(botToken)).join('[bot token]');
  if (error instanceof GrammyError) {
    return { type: 'GrammyError', method: error.method, code: error.error_code, message: scrub(error.description).slice(0, 300) };
  }
  if (error instanceof HttpError) return { type: 'HttpError', message: 'Telegram could not be reached or sent an unreadable reply' };
  if (error instanceof Error) return { type: error.name, message: scrub(error.message).slice(0, 300) };
  return { type: typeof error };
}

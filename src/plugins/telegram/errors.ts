import type { GrammyError, HttpError } from 'grammy';
import type { Plugin } from '../plugin.js';
import { UpstreamError, upstreamErrors } from '../upstream-errors.js';

/** The stable codes the Telegram plugin answers with (README, console). */
export const telegramErrors = {
  invalid_credential: { status: 400, description: 'Telegram did not accept the bot token.' },
  chat_not_found: { status: 400, description: 'The bot cannot see one of the chats listed; add it to the chat or channel first.' },
  chat_not_allowed: { status: 403, description: 'The owner did not allow this chat.' },
  chat_forbidden: { status: 403, description: 'Telegram refused: the bot was blocked, removed, or may not post in this chat.' },
  invalid_message: { status: 400, description: 'Telegram refused the message (for example, formatting it could not parse).' },
  ...upstreamErrors('Telegram', 'the bot token'),
} satisfies Plugin['errors'];

type Code = keyof typeof telegramErrors;

/** An error from the table (the shape every plugin's upstream failures share); `retryAfter` in seconds. */
export class TelegramError extends UpstreamError {
  constructor(code: Code, description: string = telegramErrors[code].description, options: { cause?: unknown; retryAfter?: number } = {}) {
    super('Telegram', code, telegramErrors[code].status, description, options);
    this.name = 'TelegramError';
  }
}

/**
 * What went wrong, in words we build ourselves. grammY's errors must not travel: an HttpError wraps node-fetch's
 * error, whose message holds the request URL, `…/bot<token>/sendMessage` (threat model G2), and pino's error
 * serializer would log it through `cause`. So the cause we keep is a fresh Error naming only method and status.
 */
const sanitizedCause = (method: string, what: string) => new Error(`telegram ${method}: ${what}`);

// eslint-disable-next-line no-control-regex -- control characters in Telegram's text are what this strips
const CONTROL_CHARACTERS = /[\u0000-\u001f]/g;

/** Telegram's own `description` (its words, shown to the caller) with the token scrubbed in case an echo holds it. */
function describe(description: string, botToken: string): string {
  const clean = description.split(botToken).join('[bot token]').replace(CONTROL_CHARACTERS, ' ').trim();
  return clean.slice(0, 300) || 'no description';
}

const isTimeout = (error: HttpError) => error.error instanceof Error && /timed out after/.test(error.error.message);

/**
 * Translates anything a grammY call threw into the plugin's table, at this one place: foreign errors
 * are translated once. The caller decides what a rejected token means (at connect time: a bad paste; later: re-link).
 * `grammy` is grammY's module, which the call loaded (src/plugins/telegram/client.ts): its error classes.
 */
export function fromTelegram(
  caught: unknown,
  method: string,
  botToken: string,
  grammy: { GrammyError: typeof GrammyError; HttpError: typeof HttpError },
): TelegramError {
  if (caught instanceof TelegramError) return caught;
  if (caught instanceof grammy.GrammyError) {
    const code = caught.error_code;
    const cause = sanitizedCause(method, `error ${code}`);
    const said = describe(String(caught.description ?? ''), botToken);
    if (code === 401 || code === 404) return new TelegramError('reconnect_required', undefined, { cause });
    if (code === 429) {
      const retryAfter = Number(caught.parameters?.retry_after);
      const seconds = Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 86_400 ? retryAfter : 30;
      return new TelegramError('upstream_rate_limited', `Telegram is rate-limiting this bot; retry after ${seconds} seconds.`, {
        cause,
        retryAfter: seconds,
      });
    }
    if (code === 403) return new TelegramError('chat_forbidden', `Telegram refused: ${said}`, { cause });
    if (code === 400 && /chat not found|not enough rights|have no rights|chat_write_forbidden/i.test(said)) {
      return new TelegramError('chat_forbidden', `Telegram refused: ${said}`, { cause });
    }
    if (code === 400) return new TelegramError('invalid_message', `Telegram refused the message: ${said}`, { cause });
    return new TelegramError('upstream_error', `Telegram answered with an error (${code}).`, { cause });
  }
  if (caught instanceof grammy.HttpError) {
    if (isTimeout(caught)) return new TelegramError('upstream_timeout', undefined, { cause: sanitizedCause(method, 'timed out') });
    return new TelegramError('upstream_error', 'Telegram could not be reached or sent a reply that is not the Bot API.', {
      cause: sanitizedCause(method, 'network error or unreadable reply'),
    });
  }
  return new TelegramError('upstream_error', undefined, {
    cause: sanitizedCause(method, `unexpected ${caught instanceof Error ? caught.name : typeof caught}`),
  });
}

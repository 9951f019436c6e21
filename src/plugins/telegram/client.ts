import type { Api } from 'grammy';
import type { z } from 'zod';
import type { Config } from '../../config.js';
import { lazy } from '../../lazy.js';
import { fromTelegram, TelegramError } from './errors.js';

/** grammY, loaded by the first Bot API call (src/lazy.ts): an instance whose owners never connect a bot never holds it. */
const grammy = lazy(() => import('grammy'));

/**
 * One bot's Bot API client, through grammY, pointed at TELEGRAM_API_ROOT (a fake on 127.0.0.1 in the tests) and
 * bounded by UPSTREAM_TIMEOUT_MS, so a hanging Telegram fails the call with 504 instead of holding it for grammY's
 * default of 500 seconds.
 */
export async function botApi(config: Pick<Config, 'TELEGRAM_API_ROOT' | 'UPSTREAM_TIMEOUT_MS'>, botToken: string): Promise<Api> {
  const { Api } = await grammy();
  return new Api(botToken, { apiRoot: config.TELEGRAM_API_ROOT, timeoutSeconds: config.UPSTREAM_TIMEOUT_MS / 1000 });
}

/**
 * Runs one Bot API call and checks the shape of its result: every failure comes out as a TelegramError with a
 * description we wrote (errors.ts), never grammY's own error, which may carry the token in a URL.
 */
export async function callTelegram<T>(method: string, botToken: string, call: () => Promise<unknown>, result: z.ZodType<T>): Promise<T> {
  let raw: unknown;
  try {
    raw = await call();
  } catch (caught) {
    throw fromTelegram(caught, method, botToken, await grammy());
  }
  const parsed = result.safeParse(raw);
  if (!parsed.success) {
    throw new TelegramError('upstream_error', 'Telegram sent a reply that is not the Bot API.', {
      cause: new Error(`telegram ${method}: unexpected result shape`),
    });
  }
  return parsed.data;
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { Transformer } from 'grammy';

export interface RetryOptions {
  /** Longest wait Telegram may ask for that is honoured; a longer one fails the call at once. */
  maxWaitSeconds: number;
  /** How many times one call is sent again. */
  maxRetries: number;
}

/**
 * An API transformer (`bot.api.config.use`) that answers Telegram's 429 the way it asks: wait `retry_after` seconds,
 * then send the call again, a few times at most. A call aborted (shutdown) stops waiting.
 */
export function honourRetryAfter({ maxWaitSeconds, maxRetries }: RetryOptions): Transformer {
  return async (prev, method, payload, signal) => {
    for (let attempt = 0; ; attempt++) {
      const response = await prev(method, payload, signal);
      if (response.ok || response.error_code !== 429) return response;
      const wait = response.parameters?.retry_after;
      if (wait === undefined || attempt >= maxRetries || wait > maxWaitSeconds) return response;
      // grammY types its signal with an abort-controller shim; at run time it is the platform's.
      await sleep(Math.max(0, wait) * 1000, undefined, { signal: signal as unknown as AbortSignal | undefined });
    }
  };
}

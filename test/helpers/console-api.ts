import type { TestBrowser } from './browser.js';

export interface CallOptions {
  /** The CSRF header to send; null sends none. */
  csrf?: string | null;
  /** The Origin header; null sends none, undefined the browser's own. */
  origin?: string | null;
}

/** JSON calls to the console API from a signed-in TestBrowser, with the CSRF header unless told otherwise. */
export function consoleApi(browser: TestBrowser, csrf: string) {
  return {
    get: (path: string) => browser.request(path, { headers: { accept: 'application/json' } }),
    send(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, options: CallOptions = {}) {
      const token = options.csrf === undefined ? csrf : options.csrf;
      return browser.request(path, {
        method,
        origin: options.origin,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token === null ? {} : { 'x-csrf-token': token }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    },
  };
}

export type ConsoleApi = ReturnType<typeof consoleApi>;

/** Waits for something written in the background (the browser-session tracker) to show up. */
export async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 3000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value) || Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

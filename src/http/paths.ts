import type { Middleware } from 'koa';

/**
 * Runs `middleware` only for requests whose path `applies` to; every other request goes straight on, without a
 * promise, a router match or a closure of its own. Most requests a server sees are oidc-provider's (`/token`,
 * introspection, discovery): the console's fifty routes have no business looking at them.
 */
export function onlyFor(applies: (path: string) => boolean, middleware: Middleware): Middleware {
  return function onlyForSomePaths(ctx, next): unknown {
    return applies(ctx.path) ? middleware(ctx, next) : next();
  };
}

/** A path test: `prefix` itself or anything below it, segment-wise (`/console` covers `/console/x`, not `/consoles`). */
export function under(...prefixes: string[]): (path: string) => boolean {
  const below = prefixes.map((prefix) => `${prefix}/`);
  return (path) => prefixes.includes(path) || below.some((prefix) => path.startsWith(prefix));
}

/** A path test for exactly these paths. */
export function exactly(...paths: string[]): (path: string) => boolean {
  const set = new Set(paths);
  return (path) => set.has(path);
}

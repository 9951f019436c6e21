import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Middleware } from 'koa';
import { publicDir } from '../paths.js';

const require = createRequire(import.meta.url);

/** The few files our pages load, read once at start; a fixed list, so no path from a request reaches the disk. */
const files: Record<string, { file: string; type: string }> = {
  '/static/style.css': { file: path.join(publicDir, 'style.css'), type: 'text/css; charset=utf-8' },
  '/static/passkey.js': { file: path.join(publicDir, 'passkey.js'), type: 'text/javascript; charset=utf-8' },
  '/static/console.css': { file: path.join(publicDir, 'console.css'), type: 'text/css; charset=utf-8' },
  '/static/api.js': { file: path.join(publicDir, 'api.js'), type: 'text/javascript; charset=utf-8' },
  '/static/console.js': { file: path.join(publicDir, 'console.js'), type: 'text/javascript; charset=utf-8' },
  '/static/kit.js': { file: path.join(publicDir, 'kit.js'), type: 'text/javascript; charset=utf-8' },
  '/static/playground.js': { file: path.join(publicDir, 'playground.js'), type: 'text/javascript; charset=utf-8' },
  '/static/playground.css': { file: path.join(publicDir, 'playground.css'), type: 'text/css; charset=utf-8' },
  '/static/simplewebauthn-browser.umd.js': {
    file: path.join(path.dirname(require.resolve('@simplewebauthn/browser')), '..', 'dist', 'bundle', 'index.umd.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
};

export function staticFiles(): Middleware {
  const cache = new Map(Object.entries(files).map(([url, { file, type }]) => [url, { body: readFileSync(file), type }]));
  return function staticFile(ctx, next) {
    const hit = ctx.method === 'GET' || ctx.method === 'HEAD' ? cache.get(ctx.path) : undefined;
    if (!hit) return next();
    ctx.type = hit.type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = hit.body;
  };
}

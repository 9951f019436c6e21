import type { Context } from 'koa';
import { AppError } from '../errors.js';

const LIMIT = 64 * 1024;

/** Bodies already read, by request: the stream can be read once, but several stages may need the body. */
const parsed = new WeakMap<Context, Promise<unknown>>();

/**
 * Reads a JSON or form body (at most 64 KiB) for our own routes; oidc-provider parses its own. A second call for the
 * same request returns the first call's result (the resource API's bearer stage looks for a token in a form body
 * before the plugin's route reads it).
 */
export function readBody(ctx: Context): Promise<unknown> {
  let body = parsed.get(ctx);
  if (!body) {
    body = parse(ctx);
    parsed.set(ctx, body);
  }
  return body;
}

async function parse(ctx: Context): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > LIMIT) throw new AppError('request_too_large', 413, 'The request body is too large.');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (ctx.is('application/json')) {
    try {
      return text ? JSON.parse(text) : {};
    } catch {
      throw new AppError('invalid_request', 400, 'The request body is not valid JSON.');
    }
  }
  if (ctx.is('application/x-www-form-urlencoded')) {
    const params = new URLSearchParams(text);
    const out: Record<string, string> = {};
    for (const [key, value] of params) {
      // A repeated field is ambiguous; refuse it rather than pick one (threat model A6 applies to our forms too).
      if (key in out) throw new AppError('invalid_request', 400, `The field ${key} is repeated.`);
      out[key] = value;
    }
    return out;
  }
  if (!text) return {};
  throw new AppError('unsupported_media_type', 415, 'Send JSON or a form.');
}

import type { Context } from 'koa';
import { AppError } from '../errors.js';

const LIMIT = 64 * 1024;

/** Reads a JSON or form body (at most 64 KiB) for our own routes; oidc-provider parses its own. */
export async function readBody(ctx: Context): Promise<unknown> {
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
      // A repeated field is ambiguous; refuse it rather than pick one (SECURITY.md A6 applies to our forms too).
      if (key in out) throw new AppError('invalid_request', 400, `The field ${key} is repeated.`);
      out[key] = value;
    }
    return out;
  }
  if (!text) return {};
  throw new AppError('unsupported_media_type', 415, 'Send JSON or a form.');
}

import type { Context } from 'koa';

/** After a form post: back to the page with a short code the page turns into a notice. */
export function backTo(ctx: Context, path: string, done: string): void {
  ctx.status = 303;
  ctx.redirect(`${path}${path.includes('?') ? '&' : '?'}done=${encodeURIComponent(done)}`);
}

/** The notice for `?done=<code>` using the page's own wording; unknown codes show nothing. */
export function noticeFrom(ctx: Context, messages: Record<string, string>): { kind: 'ok'; text: string } | undefined {
  const code = typeof ctx.query.done === 'string' ? ctx.query.done : undefined;
  return code && messages[code] ? { kind: 'ok', text: messages[code] } : undefined;
}

import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { readBody } from './body.js';

/** The schemas a route's input must meet: its path parameters, its query string and its body. */
export interface InputSchemas {
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
}

type Parsed<S extends InputSchemas> = {
  [K in keyof S]: S[K] extends z.ZodType ? z.output<S[K]> : never;
};

/** What `guard` leaves on `ctx.state`: the route's input, parsed and typed. */
export interface GuardedState<S extends InputSchemas> {
  input: Parsed<S>;
}

/**
 * Validate at the edge, once: a route's first stage parses its path parameters, query and body with zod and leaves
 * them, typed, on `ctx.state.input` for the stages after it (the shape of Logto's koaGuard). A bad value is a
 * ZodError, which the boundaries answer 400 naming the field. A form's body is read once (src/http/body.ts).
 */
export function guard<S extends InputSchemas>(schemas: S): Middleware<GuardedState<S>> {
  return async function guardInput(ctx, next) {
    const input: Record<string, unknown> = {};
    if (schemas.params) input.params = schemas.params.parse(ctx.params);
    if (schemas.query) input.query = schemas.query.parse(ctx.query);
    if (schemas.body) input.body = schemas.body.parse((ctx.state as { body?: unknown }).body ?? (await readBody(ctx)));
    ctx.state.input = input as Parsed<S>;
    await next();
  };
}

/** A form post's fields as they came (http/body.ts refuses repeated fields), for forms read field by field. */
export const FormFields = z.record(z.string(), z.unknown());

/** A path parameter as @koa/router matched it (Koa's own Context types `ctx.params` as any); validate it before use. */
export const pathParam = (ctx: Context, name: string): string | undefined => (ctx.params as Record<string, string> | undefined)?.[name];

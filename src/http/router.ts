import Router, { type RouterOptions } from '@koa/router';
import type { DefaultContext, DefaultState } from 'koa';

/**
 * Every router of ours matches paths case-sensitively, as the guards around them compare paths: `/Console/api` is
 * not `/console/api` anywhere (docs/threat-model.md J1). Trailing slashes never reach a router (the front door's
 * canonical paths, src/http/canonical-path.ts).
 */
export function createRouter<State = DefaultState, Context = DefaultContext>(options: RouterOptions = {}): Router<State, Context> {
  return new Router<State, Context>({ ...options, sensitive: true });
}

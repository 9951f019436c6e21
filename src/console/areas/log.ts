import { Readable } from 'node:stream';
import type Router from '@koa/router';
import { z } from 'zod';
import { AccessLog, type LogFilter } from '../../accounts/access-log.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { agentsClient, consoleClient } from '../../provider/first-party.js';
import { logPage } from '../views/log.js';
import { csvLines, jsonLines } from '../views/log-export.js';
import { guard } from '../../http/guard.js';

/** A whole number from a query string within [min, max]: "abc", "1.5", "0" and repeats are refused, not coerced. */
const count = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,15}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min).max(max));

/** An empty filter (the form's "All apps") means no filter. */
const optional = (field: z.ZodString) => z.preprocess((v) => (v === '' ? undefined : v), field.optional());

const Filters = {
  client_id: optional(z.string().max(200)),
  kind: optional(z.string().max(64)),
};
const PageQuery = z.object({ ...Filters, before: optional(z.string()).pipe(count(1, Number.MAX_SAFE_INTEGER).optional()) });
const ApiQuery = PageQuery.extend({ limit: count(1, 200).default(50) });
const ExportQuery = z.object({ ...Filters, format: z.enum(['csv', 'json']).default('csv') });
const ChartQuery = z.object({ days: count(1, 90).default(30) });

const PAGE_SIZE = 50;
const filterOf = (q: { client_id?: string; kind?: string }): LogFilter => ({ clientId: q.client_id, kind: q.kind });

/** /console/log and /console/api/log: the owner's own events, never anyone else's (every query is bound to the owner). */
export function logArea(router: Router, deps: ConsoleDeps): void {
  const { csrfFor } = consoleStages(deps);
  // oauth3's own clients live in configuration, not in the clients table: their names come from there.
  const firstParty = [consoleClient(deps.config), agentsClient()];
  const log = new AccessLog(deps.db, Object.fromEntries(firstParty.map((c) => [c.client_id, String(c.client_name ?? c.client_id)])));
  const chartDays = ChartQuery.parse({}).days;

  router.get('/console/log', guard({ query: PageQuery }), async function showLog(ctx) {
    const q = ctx.state.input.query;
    const accountId = ownerOf(ctx).accountId;
    const filter = filterOf(q);
    const [page, chart, facets] = await Promise.all([
      log.page(accountId, filter, PAGE_SIZE, q.before),
      log.chart(accountId, chartDays),
      log.facets(accountId),
    ]);
    ctx.type = 'html';
    ctx.body = logPage({ csrf: csrfFor(ctx), chart, page, filter, before: q.before, facets, pendingApprovals: pendingOf(ctx) });
  });

  router.get('/console/api/log', guard({ query: ApiQuery }), async function listEvents(ctx) {
    const q = ctx.state.input.query;
    ctx.body = await log.page(ownerOf(ctx).accountId, filterOf(q), q.limit, q.before);
  });

  router.get('/console/api/log/export', guard({ query: ExportQuery }), async function exportEvents(ctx) {
    const q = ctx.state.input.query;
    const events = log.all(ownerOf(ctx).accountId, filterOf(q));
    const day = new Date().toISOString().slice(0, 10);
    ctx.set('Content-Disposition', `attachment; filename="oauth3-access-log-${day}.${q.format}"`);
    ctx.set('Cache-Control', 'no-store');
    ctx.type = q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8';
    ctx.body = Readable.from(q.format === 'csv' ? csvLines(events) : jsonLines(events));
  });

  router.get('/console/api/log/chart', guard({ query: ChartQuery }), async function chartEvents(ctx) {
    const q = ctx.state.input.query;
    ctx.body = { days: q.days, ...(await log.chart(ownerOf(ctx).accountId, q.days)) };
  });
}

import { html, type SafeHtml } from '../../web/html.js';
import { breakable } from './breakable.js';
import { displayAddress } from '../../http/client-address.js';
import { timeTag } from '../../web/time.js';
import type { Chart, LogEntry, LogFilter, LogPage } from '../../accounts/access-log.js';
import { consolePage } from './layout.js';
import { activityChart } from './chart.js';
import { eventDetail } from './log-details.js';
import { kindLabel, outcomeLabel } from '../../accounts/event-kinds.js';

export interface LogPageInput {
  pendingApprovals?: number;
  csrf: string;
  chart: Chart;
  page: LogPage;
  filter: LogFilter;
  /** The cursor this page was read from (absent on the newest page). */
  before?: number;
  facets: { apps: Array<{ client_id: string; client_name: string | null }>; kinds: string[] };
}

/** A query string with the filters (and anything extra), skipping empty values. */
export function logQuery(filter: LogFilter, extra: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries({ client_id: filter.clientId, kind: filter.kind, ...extra })) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const query = params.toString();
  return query ? `?${query}` : '';
}

const appName = (e: Pick<LogEntry, 'client_id' | 'client_name'>) => e.client_name ?? e.client_id ?? '';

/** The event's line in words, or a dash when neither it nor a summary says anything. */
function detailOf(e: LogEntry): SafeHtml | string {
  const detail = eventDetail(e.kind, e.detail);
  return detail.value || e.summary ? detail : '—';
}

function eventRow(e: LogEntry): SafeHtml {
  return html`<tr class="outcome-${e.outcome}">
<td data-label="When">${timeTag(e.at)}</td>
<td data-label="Event">${kindLabel(e.kind, e.outcome)}</td>
<td data-label="App">${e.client_id ? appName(e) : html`<span class="muted">oauth3</span>`}</td>
<td data-label="Outcome">${outcomeLabel(e.outcome)}</td>
<td data-label="IP address"><span class="address">${displayAddress(e.ip) ?? '—'}</span></td>
<td data-label="Details">${e.summary ? html`<strong class="event-summary">${breakable(e.summary)}</strong> ` : ''}${detailOf(e)}</td>
</tr>`;
}

function filters({ filter, facets }: LogPageInput): SafeHtml {
  const apps = [...facets.apps];
  if (filter.clientId && !apps.some((a) => a.client_id === filter.clientId)) apps.push({ client_id: filter.clientId, client_name: null });
  const kinds = filter.kind && !facets.kinds.includes(filter.kind) ? [...facets.kinds, filter.kind] : facets.kinds;
  const selected = (on: boolean) => (on ? html` selected` : '');
  return html`<form method="get" action="/console/log" class="log-filters" aria-label="Filter the log">
<div class="field"><label for="log-app">App</label>
<select id="log-app" name="client_id"><option value="">All apps</option>
${apps.map((a) => html`<option value="${a.client_id}"${selected(a.client_id === filter.clientId)}>${appName(a)}</option>`)}
</select></div>
<div class="field"><label for="log-kind">Event</label>
<select id="log-kind" name="kind"><option value="">All events</option>
${kinds.map((k) => html`<option value="${k}"${selected(k === filter.kind)}>${kindLabel(k)}</option>`)}
</select></div>
<div class="log-filter-actions"><button type="submit" class="button secondary">Show</button>
${(filter.clientId || filter.kind) && html`<a href="/console/log">Clear filters</a>`}</div>
</form>`;
}

/** /console/log: activity chart, filters, the events newest first, and downloads of the same selection. */
export function logPage(input: LogPageInput): string {
  const { csrf, chart, page, filter, before } = input;
  const older =
    page.next_before !== null && html`<a rel="next" href="/console/log${logQuery(filter, { before: page.next_before })}">Older events</a>`;
  const newest = before !== undefined && html`<a href="/console/log${logQuery(filter)}">Newest events</a>`;
  const body = html`<h1>Access log</h1>
<p>Every sign-in, passkey change, consent, revocation, token and API call on your account. Only you can see it.</p>
${activityChart(chart)}
<section aria-labelledby="events-title">
<h2 id="events-title">Events</h2>
${filters(input)}
<p class="log-export">Download these events: <a href="/console/api/log/export${logQuery(filter, { format: 'csv' })}" download>CSV</a>
· <a href="/console/api/log/export${logQuery(filter, { format: 'json' })}" download>JSON</a></p>
${
  page.events.length
    ? html`<table class="table log-table">
<thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">App</th><th scope="col">Outcome</th><th scope="col">IP address</th><th scope="col">Details</th></tr></thead>
<tbody>
${page.events.map(eventRow)}
</tbody>
</table>`
    : html`<p class="empty">No events${filter.clientId || filter.kind ? ' match these filters' : ' yet'}.</p>`
}
${(older || newest) && html`<nav class="log-pages" aria-label="Older and newer events">${newest}${older}</nav>`}
</section>`;
  return consolePage({ title: 'Access log', active: '/console/log', csrf, body, pendingApprovals: input.pendingApprovals });
}

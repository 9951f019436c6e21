import { html, type SafeHtml } from '../../web/html.js';
import type { Chart } from '../../accounts/access-log.js';
import { dayTag, dayText } from '../../web/time.js';

const SERIES_COLOURS = 8; // .series-0 … .series-7 in console.css
const DAY_WIDTH = 10;
const BAR_WIDTH = 7;
const HEIGHT = 100;

/** Every UTC day from `from` to `to`, inclusive, as YYYY-MM-DD. */
function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = new Date(`${from}T00:00:00Z`); d <= new Date(`${to}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) {
    out.push(d.toISOString().slice(0, 10));
  }
  return out;
}

/**
 * Calls per day per app as stacked bars in an inline SVG. The page's CSP allows no script and no style attributes,
 * so the picture is plain geometry coloured by CSS classes; the numbers are also in a table for screen readers,
 * copying and anyone who prefers them.
 */
export function activityChart(chart: Chart): SafeHtml {
  const what = chart.counting === 'api.call' ? 'API calls' : 'App activity (no API calls logged yet, so every event that names an app)';
  const days = daysBetween(chart.from, chart.to);
  const totals = new Map<string, { name: string; total: number }>();
  for (const c of chart.counts) {
    const app = totals.get(c.client_id) ?? { name: c.client_name ?? c.client_id, total: 0 };
    app.total += c.count;
    totals.set(c.client_id, app);
  }
  const apps = [...totals.entries()].sort((a, b) => b[1].total - a[1].total);
  const series = new Map(apps.map(([id], i) => [id, i % SERIES_COLOURS]));
  const heading = html`<h2 id="chart-title">${what} per day, last ${days.length} days</h2>
<p class="hint">Days run from midnight to midnight UTC.</p>`;
  if (!apps.length)
    return html`<section class="chart" aria-labelledby="chart-title">${heading}<p class="empty">No app activity in this period.</p></section>`;

  const perDay = new Map<string, number>();
  for (const c of chart.counts) perDay.set(c.day, (perDay.get(c.day) ?? 0) + c.count);
  const peak = Math.max(...perDay.values());
  const total = apps.reduce((sum, [, a]) => sum + a.total, 0);
  const summary =
    `${what}: ${total} from ${dayText(chart.from)} to ${dayText(chart.to)} (UTC days), at most ${peak} in a day. ` +
    apps.map(([, a]) => `${a.name}: ${a.total}`).join('; ') +
    '.';

  const bars = days.map((day, i) => {
    let top = HEIGHT;
    return apps.map(([id, app]) => {
      const count = chart.counts.find((c) => c.day === day && c.client_id === id)?.count ?? 0;
      if (!count) return '';
      const h = (count / peak) * HEIGHT;
      top -= h;
      return html`<rect class="series-${series.get(id)}" x="${i * DAY_WIDTH + (DAY_WIDTH - BAR_WIDTH) / 2}" y="${top.toFixed(2)}" width="${BAR_WIDTH}" height="${h.toFixed(2)}"><title>${dayText(day)} · ${app.name}: ${count}</title></rect>`;
    });
  });

  return html`<section class="chart" aria-labelledby="chart-title">
${heading}
<p class="chart-peak">Highest day: ${peak}</p>
<svg class="chart-svg" viewBox="0 0 ${days.length * DAY_WIDTH} ${HEIGHT}" preserveAspectRatio="none" role="img" aria-label="${summary}" focusable="false">
<line class="chart-baseline" x1="0" y1="${HEIGHT}" x2="${days.length * DAY_WIDTH}" y2="${HEIGHT}" vector-effect="non-scaling-stroke"></line>
${bars}
</svg>
<div class="chart-axis" aria-hidden="true"><span>${dayTag(chart.from)}</span><span>${dayTag(chart.to)}</span></div>
<ul class="chart-legend" aria-label="Apps">
${apps.map(([id, app]) => html`<li><span class="swatch series-${series.get(id)}" aria-hidden="true"></span>${app.name} <span class="muted">(${app.total})</span></li>`)}
</ul>
<details class="chart-numbers">
<summary>The numbers behind the chart</summary>
<table class="table">
<caption>${what} per day and app</caption>
<thead><tr><th scope="col">Day</th><th scope="col">App</th><th scope="col">Count</th></tr></thead>
<tbody>
${chart.counts.map((c) => html`<tr><td data-label="Day">${dayTag(c.day)}</td><td data-label="App">${c.client_name ?? c.client_id}</td><td data-label="Count">${c.count}</td></tr>`)}
</tbody>
</table>
</details>
</section>`;
}

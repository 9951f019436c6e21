import type { LogEntry } from '../../accounts/access-log.js';

const COLUMNS = ['id', 'at', 'kind', 'outcome', 'client_id', 'client_name', 'scope', 'ip', 'detail'] as const;

/**
 * One CSV cell (RFC 4180 quoting). A spreadsheet runs a cell that starts with = + - @ (or a tab or carriage
 * return) as a formula, and app names, scopes and details come from others, so such cells get a leading
 * apostrophe: shown as text, never evaluated (OWASP "CSV Injection").
 */
export function csvCell(value: unknown): string {
  let text =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
        ? String(value)
        : value === null || value === undefined
          ? ''
          : (JSON.stringify(value) ?? '');
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

const csvLine = (cells: readonly unknown[]) => cells.map(csvCell).join(',') + '\r\n';

/** The log as CSV: a header row, then one row per event; `detail` is its JSON. */
export async function* csvLines(events: AsyncIterable<LogEntry>): AsyncGenerator<string> {
  yield csvLine(COLUMNS);
  for await (const e of events) yield csvLine(COLUMNS.map((c) => e[c]));
}

/** The log as one JSON array, written an event at a time. */
export async function* jsonLines(events: AsyncIterable<LogEntry>): AsyncGenerator<string> {
  let first = true;
  yield '[';
  for await (const e of events) {
    yield (first ? '\n' : ',\n') + JSON.stringify(e);
    first = false;
  }
  yield '\n]\n';
}

/**
 * Writing Markdown from values a developer typed (an app's name, its redirect URIs): every value goes through one of
 * these, so a name such as `[click](javascript:…)` or `<img onerror=…>` reads as text wherever the file is rendered
 * (CommonMark §2.4 backslash escapes; HTML is never passed through).
 */

/**
 * Text inside a line (never at its start): the punctuation that means something there backslash-escaped, HTML as
 * entities, line breaks as spaces (so a value cannot start a heading or a list of its own).
 */
export function mdText(value: string): string {
  return (
    value
      .replace(/[\r\n\t]+/g, ' ')
      .replace(/[\\`*_{}[\]()#!|~:]/g, (char) => `\\${char}`)
      // GFM turns bare `http://…` and `www.…` into links; the escaped colon above and this dot keep them text.
      .replace(/(www)\./gi, '$1\\.')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
  );
}

/** The longest run of backticks in `value`. */
const longestTicks = (value: string) => Math.max(0, ...(value.match(/`+/g) ?? []).map((run) => run.length));

/** An inline code span that no backtick inside the value can close early (CommonMark §6.1). */
export function mdCode(value: string): string {
  const oneLine = value.replace(/[\r\n]+/g, ' ');
  const ticks = '`'.repeat(longestTicks(oneLine) + 1);
  const pad = oneLine.startsWith('`') || oneLine.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${oneLine}${pad}${ticks}`;
}

/** A fenced code block whose fence is longer than any backtick run inside (CommonMark §4.5). */
export function mdFence(info: string, body: string): string {
  const fence = '`'.repeat(Math.max(3, longestTicks(body) + 1));
  return `${fence}${info}\n${body}\n${fence}`;
}

/** A single-quoted shell word: nothing inside is expanded, and a quote in the value cannot end it. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * A tiny HTML templating helper: every value interpolated into `html`…`` is escaped unless it is already
 * SafeHtml (the result of `html` itself, or of `raw()` for markup we wrote). Client-supplied strings (names,
 * descriptions, hosts) therefore render inert by default (threat model D6).
 */

/** Markup that is safe to insert as is. Build it with `html` or, for trusted constant markup, `raw()`. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What `html` accepts: `false`, `null` and `undefined` render nothing, so `${cond && html`…`}` works. */
export type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes text for use in element content and in quoted attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`]/g, (char) => ENTITIES[char] ?? char);
}

/** Marks trusted markup as safe. Never pass it anything a client or user supplied. */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

function render(value: Interpolation): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(value);
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new SafeHtml(out);
}

/**
 * The URL if it is an absolute https URL, otherwise undefined. Client logos are shown only over https: an
 * http image leaks the visit and can be swapped in transit, and javascript:/data: URLs are refused outright (D6).
 */
export function httpsUrl(value: string | undefined): string | undefined {
  if (!value) return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

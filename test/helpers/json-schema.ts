/**
 * A JSON Schema (draft-07) checker for the subset of keywords helm/oauth3/values.schema.json uses, so the chart's
 * schema is tested here the way Helm applies it, without a validator dependency. A keyword outside the subset is an
 * error, never silently ignored: a schema that grows past this checker fails its test instead of passing untested.
 */

export type Schema = boolean | { [keyword: string]: unknown };

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', 'default', 'examples', '$comment']);
const KEYWORDS = new Set([
  'type',
  'enum',
  'const',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'not',
  'anyOf',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

const isObject = (v: unknown): v is Record<string, unknown> => typeOf(v) === 'object';

/** Every way `value` breaks `schema`, as "path: problem" lines; empty when it conforms. */
export function validate(schema: Schema, value: unknown, at = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: not allowed`];
  for (const keyword of Object.keys(schema)) {
    if (!KEYWORDS.has(keyword) && !ANNOTATIONS.has(keyword))
      throw new Error(`${at}: keyword "${keyword}" is not supported by this checker`);
  }
  const problems: string[] = [];
  const s = schema as Record<string, unknown>;

  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
    if (!types.some((t) => hasType(value, t))) return [`${at}: must be ${types.join(' or ')}, got ${typeOf(value)}`];
  }
  if (s.enum !== undefined && !(s.enum as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    problems.push(`${at}: must be one of ${JSON.stringify(s.enum)}`);
  }
  if (s.const !== undefined && JSON.stringify(s.const) !== JSON.stringify(value))
    problems.push(`${at}: must be ${JSON.stringify(s.const)}`);
  if (s.not !== undefined && validate(s.not as Schema, value, at).length === 0)
    problems.push(`${at}: must not match ${JSON.stringify(s.not)}`);
  if (s.anyOf !== undefined && !(s.anyOf as Schema[]).some((sub) => validate(sub, value, at).length === 0)) {
    problems.push(`${at}: matches none of the allowed shapes`);
  }

  if (typeof value === 'string') {
    if (typeof s.minLength === 'number' && [...value].length < s.minLength) problems.push(`${at}: shorter than ${s.minLength}`);
    if (typeof s.maxLength === 'number' && [...value].length > s.maxLength) problems.push(`${at}: longer than ${s.maxLength}`);
    // JSON Schema patterns are unanchored (ECMA 262 / RE2 "search"), as in Helm.
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value)) problems.push(`${at}: does not match ${s.pattern}`);
  }
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) problems.push(`${at}: below ${s.minimum}`);
    if (typeof s.maximum === 'number' && value > s.maximum) problems.push(`${at}: above ${s.maximum}`);
  }
  if (Array.isArray(value) && s.items !== undefined) {
    value.forEach((item, i) => problems.push(...validate(s.items as Schema, item, `${at}[${i}]`)));
  }
  if (isObject(value)) {
    const properties = (s.properties ?? {}) as Record<string, Schema>;
    for (const key of (s.required ?? []) as string[]) if (!(key in value)) problems.push(`${at}.${key}: required`);
    for (const [key, item] of Object.entries(value)) {
      if (s.propertyNames !== undefined) problems.push(...validate(s.propertyNames as Schema, key, `${at}.${key} (name)`));
      if (key in properties) problems.push(...validate(properties[key]!, item, `${at}.${key}`));
      else if (s.additionalProperties !== undefined) problems.push(...validate(s.additionalProperties as Schema, item, `${at}.${key}`));
    }
  }
  return problems;
}

import { ZodError, type z } from 'zod';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { AppError, type Problem } from '../errors.js';
import type { ClientKind } from '../clients/store.js';
import { AppFields, fieldsFromForm, NewApp } from './input.js';

/** The app form's fields, by the names the form sends. */
export const APP_FIELDS = ['kind', 'name', 'description', 'homepage', 'logo_uri', 'redirect_uris', 'scopes', 'token_exchange'] as const;
export type AppFieldName = (typeof APP_FIELDS)[number];

/** Each field in the words the form labels it with, never the wire name (`Redirect URIs`, not `redirect_uris.0`). */
export const FIELD_LABELS: Record<AppFieldName, string> = {
  kind: 'Kind',
  name: 'Name',
  description: 'Description',
  homepage: 'Home page',
  logo_uri: 'Logo URL',
  redirect_uris: 'Redirect URIs',
  scopes: 'Scopes',
  token_exchange: 'Token exchange',
};

/** Every problem of a submitted form, each beside its field; `other` for what belongs to no field (limits). */
export interface FormProblems {
  fields: Partial<Record<AppFieldName, string[]>>;
  other: string[];
}

const isField = (name: unknown): name is AppFieldName => APP_FIELDS.includes(name as AppFieldName);
/** A problem as a sentence of its own, for beside its field. */
export const sentence = (text: string) => (text ? text.charAt(0).toUpperCase() + text.slice(1) : text);

export const countProblems = (problems: FormProblems) =>
  problems.other.length + Object.values(problems.fields).reduce((n, list) => n + (list?.length ?? 0), 0);

function add(problems: FormProblems, field: AppFieldName | undefined, message: string): void {
  if (!field) return void problems.other.push(sentence(message));
  (problems.fields[field] ??= []).push(message);
}

/** Where the app's fields came from: the HTML form (redirect URIs one per line) or the JSON API (arrays). */
type Via = 'form' | 'json';

/** The scopes as sent: a JSON array, or a space-separated string; anything else has none to name. */
const scopeList = (value: unknown): string[] =>
  Array.isArray(value)
    ? value.filter((v): v is string => typeof v === 'string')
    : typeof value === 'string'
      ? value.split(/\s+/).filter(Boolean)
      : [];

/** How many redirect URIs were sent: a JSON array's entries, or the form's lines that are not blank. */
const redirectCount = (value: unknown): number =>
  Array.isArray(value) ? value.length : typeof value === 'string' ? value.split(/\r?\n/).filter((l) => l.trim()).length : 0;

/** One schema issue in the sender's words: a redirect URI or scope names its line (entry) or value, not its index. */
function fromIssue(problems: FormProblems, issue: z.core.$ZodIssue, scopes: string[], via: Via): void {
  const [field, index] = issue.path;
  if (!isField(field)) return add(problems, undefined, issue.message);
  if (field === 'redirect_uris' && typeof index === 'number')
    return add(problems, field, `${via === 'form' ? 'line' : 'entry'} ${index + 1}: ${issue.message}`);
  if (field === 'kind') return add(problems, field, via === 'form' ? 'pick the kind of app' : 'must be web, public or agent');
  if (field === 'scopes' && typeof index === 'number') {
    const scope = scopes[index];
    return add(problems, field, scope ? `${scope}: ${issue.message}` : issue.message);
  }
  add(problems, field, issue.message);
}

/**
 * Every problem of an app's fields at once (schema, unknown scopes, and what the kind of app rules out), so the
 * developer fixes them in one go, in the JSON API's shape (`fieldsFromForm` turns the form's into it). `storedKind` is
 * the stored app's on an edit; on registration the kind comes from the fields.
 */
export function checkApp(input: Record<string, unknown>, catalog: ScopeCatalog, storedKind?: ClientKind, via: Via = 'json'): FormProblems {
  const problems: FormProblems = { fields: {}, other: [] };
  const parsed = (storedKind ? AppFields : NewApp).safeParse(input);
  const scopes = scopeList(input.scopes);
  if (!parsed.success) for (const issue of parsed.error.issues) fromIssue(problems, issue, scopes, via);

  for (const scope of scopes) if (!catalog.get(scope)) add(problems, 'scopes', `the scope ${scope} is not one this server knows`);

  const kind = storedKind ?? (parsed.success ? (parsed.data as NewApp).kind : NewApp.shape.kind.safeParse(input.kind).data);
  const redirects = redirectCount(input.redirect_uris);
  if (kind === 'agent' && redirects)
    add(problems, 'redirect_uris', 'an agent service signs in with the device flow or client credentials: leave this empty');
  if (kind && kind !== 'agent' && !redirects && !storedKind)
    add(problems, 'redirect_uris', 'an app that signs owners in needs at least one redirect URI');
  if (kind === 'public' && input.token_exchange === true)
    add(problems, 'token_exchange', 'a public app has no secret, so it cannot exchange tokens');
  return problems;
}

/** Every problem of the register or edit form: checkApp on the form's fields. */
export const checkAppForm = (form: Record<string, unknown>, catalog: ScopeCatalog, storedKind?: ClientKind): FormProblems =>
  checkApp(fieldsFromForm(form), catalog, storedKind, 'form');

/**
 * The JSON API's refusal of an app's fields: 400 `invalid_request` whose `problems` list every problem, each with its
 * field's wire name (none for a problem of the whole body) and a sentence in the form's words ("Home page: must be an
 * https URL."), and whose description says them all in one line for a client that reads only that.
 */
export function appProblems(problems: FormProblems): AppError {
  const list: Problem[] = [
    ...problems.other.map((m) => ({ description: endSentence(m) })),
    ...APP_FIELDS.flatMap((field) =>
      (problems.fields[field] ?? []).map((m) => ({ field, description: endSentence(`${FIELD_LABELS[field]}: ${m}`) })),
    ),
  ];
  const n = list.length;
  return new AppError(
    'invalid_request',
    400,
    `The app was not saved: ${n === 1 ? 'one problem' : `${n} problems`}. ${list.map((p) => p.description).join(' ')}`,
    { problems: list },
  );
}

/** A sentence ends with a full stop, unless it already ends with punctuation. */
const endSentence = (text: string) => (/[.!?]$/.test(text) ? text : `${text}.`);

/**
 * A refusal from further down (the store, the limits) as form problems: `field: message` descriptions go beside that
 * field, in its words; anything else is a problem of the whole form.
 */
export function problemsFrom(error: unknown): FormProblems | undefined {
  if (error instanceof ZodError) {
    const problems: FormProblems = { fields: {}, other: [] };
    for (const issue of error.issues) fromIssue(problems, issue, [], 'form');
    return problems;
  }
  if (!(error instanceof AppError) || ![400, 409, 429].includes(error.status)) return undefined;
  const problems: FormProblems = { fields: {}, other: [] };
  const named = /^([a-z_]+)(?:\.\d+)?: (.*)$/s.exec(error.description);
  add(problems, named && isField(named[1]) ? named[1] : undefined, named && isField(named[1]) ? named[2]! : error.description);
  return problems;
}

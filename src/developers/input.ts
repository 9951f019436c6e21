import { z } from 'zod';
import { ClientKind, RedirectUri } from '../clients/store.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { GRACE_PERIODS } from '../clients/secrets.js';

/** A form sends '' for a field left empty: that means "not set". */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === '' || v === null ? undefined : v), schema.optional());
/** Redirect URIs come as a JSON array, or one per line from the form's text area. */
const lines = (v: unknown) =>
  typeof v === 'string'
    ? v
        .split(/\r?\n/)
        .map((l) => l.trim())
        .filter(Boolean)
    : v;
/** Scopes come as a JSON array or a space-separated string. */
const words = (v: unknown) => (typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : v);

const https = z.url({ protocol: /^https$/, error: 'must be an https URL' }).max(2000);
const Scope = z.string().min(1).max(64);

/** What a developer may change on an app, from the JSON API or the form (threat model F1 for the redirect URIs). */
export const AppFields = z.object({
  name: z.string().trim().min(1, 'is required').max(100, 'must be at most 100 characters'),
  description: optional(z.string().trim().max(1000, 'must be at most 1000 characters')),
  logo_uri: optional(https),
  homepage: optional(https),
  redirect_uris: z.preprocess(lines, z.array(RedirectUri).max(20, 'at most 20 redirect URIs')).default([]),
  scopes: z.preprocess(words, z.array(Scope).min(1, 'pick at least one scope').max(100)),
  /**
   * Whether the app may trade its tokens for narrower ones for its own helpers (RFC 8693 token exchange). Confidential
   * kinds only. Left out of a JSON update: unchanged.
   */
  token_exchange: z.boolean().optional(),
});
export type AppFields = z.output<typeof AppFields>;

/** The fields, if every scope is one this server knows; else the schema error a form names the field by. */
export function withKnownScopes<T extends { scopes: string[] }>(fields: T, catalog: ScopeCatalog): T {
  const issues = fields.scopes.flatMap((scope, i) =>
    catalog.get(scope) ? [] : [{ code: 'custom' as const, path: ['scopes', i], message: `unknown scope ${scope}`, input: scope }],
  );
  if (issues.length) throw new z.ZodError(issues);
  return fields;
}

/** Registration adds the kind, which stays for the app's life (it decides how the app authenticates). */
export const NewApp = AppFields.extend({ kind: ClientKind });
export type NewApp = z.output<typeof NewApp>;

export const Rotation = z.object({
  grace: z.enum(Object.keys(GRACE_PERIODS) as [keyof typeof GRACE_PERIODS, ...(keyof typeof GRACE_PERIODS)[]]).default('24h'),
});

/** Client ids the portal issues (store.ts newClientId); anything else is simply not found. */
export const ClientIdParam = z.string().regex(/^c_[A-Za-z0-9_-]{16}$/);

/** The form's fields in the JSON API's shape: checkboxes `scope:<name>`, redirect URIs one per line. */
export function fieldsFromForm(body: Record<string, unknown>): Record<string, unknown> {
  const scopes = Object.keys(body)
    .filter((k) => k.startsWith('scope:') && body[k] === 'on')
    .map((k) => k.slice('scope:'.length));
  // A checkbox: present only when ticked, so the form always says yes or no.
  return { ...body, scopes, token_exchange: body.token_exchange === 'on' };
}

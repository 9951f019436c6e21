import { html } from './html.js';
import type { ScopeAccess, ScopeCatalog } from '../../scopes/catalog.js';

/** Badge text carries the meaning; the colour only repeats it (as on the consent page). */
const ACCESS: Record<ScopeAccess, string> = { read: 'Read', write: 'Write', identity: 'Identity' };
export const accessBadge = (access: ScopeAccess) => html`<span class="badge badge-${access}">${ACCESS[access]}</span>`;

/** A scope in the owner's words, with its access badge; the technical name stays visible for the curious. */
export const scopeBadge = (catalog: ScopeCatalog, name: string) => {
  const def = catalog.get(name);
  return html`<li>${accessBadge(def?.access ?? 'write')} ${def?.title ?? name} <code class="scope-name">${name}</code></li>`;
};

import { html } from '../../web/html.js';
import type { ScopeCatalog } from '../../../scopes/catalog.js';
import { accessBadge } from '../../web/scope-badges.js';

/**
 * One checkbox per scope of the resource API (`scope:<name>`, since a repeated field is refused by http/body.ts),
 * for the forms that mint agent tokens and register agent services. `idPrefix` keeps element ids unique per form;
 * `only`, when given, limits the choices to those scopes (an MCP token needs only what the tools need).
 */
export function scopeChoices(catalog: ScopeCatalog, idPrefix: string, checked: ReadonlySet<string>, only?: ReadonlySet<string>) {
  return html`<fieldset class="token-scopes">
    <legend>It can</legend>
    ${catalog
      .all()
      .filter((s) => s.kind === 'resource' && (!only || only.has(s.name)))
      .map(
        (s) => html`<div class="field field-check">
      <input id="${idPrefix}${s.name}" type="checkbox" name="scope:${s.name}" value="on"${checked.has(s.name) ? html` checked` : ''}>
      <label for="${idPrefix}${s.name}">${accessBadge(s.access)}
        <strong>${s.title}</strong><span class="hint"> ${s.description}</span></label>
    </div>`,
      )}
  </fieldset>`;
}

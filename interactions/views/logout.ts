import { html, raw } from '../../src/web/html.js';
import { layout } from '../../src/web/layout.js';

/**
 * RP-initiated logout confirmation. `form` is oidc-provider's own hidden form (with its CSRF field); the buttons
 * submit it, so no script is needed.
 */
export function logoutPage({ form }: { form: string }): string {
  const body = html`<section class="card" aria-labelledby="logout-title">
  <h1 id="logout-title">Sign out of oauth3?</h1>
  ${raw(form)}
  <div class="actions">
    <button class="button primary" type="submit" form="op.logoutForm" name="logout" value="yes" autofocus>Yes, sign me out</button>
    <button class="button secondary" type="submit" form="op.logoutForm">No, stay signed in</button>
  </div>
</section>`;
  return layout({ title: 'Sign out', body });
}

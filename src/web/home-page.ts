import { html } from './html.js';
import { layout } from './layout.js';

/** The landing page at `/`: what oauth3 is, and where an app developer starts. */
export function homePage({ issuer }: { issuer: string }): string {
  const body = html`<section class="card" aria-labelledby="home-title">
  <h1 id="home-title">oauth3</h1>
  <p>oauth3 gives AI agents and apps narrow, revocable, time-limited access to your online accounts.
    You sign in with a passkey, see exactly what each app asks for, and can take its access back at any time.</p>
  <p>Apps connect with standard OAuth 2.1 (authorization code with PKCE). This server's issuer is
    <code>${issuer}</code>.</p>
  <ul>
    <li><a href="/console">Your console</a>: connect accounts, see and revoke what apps and agents may do.</li>
    <li><a href="/developers">Developer portal</a>: register an app or an agent service, manage its secrets.</li>
    <li><a href="/developers/playground">Playground</a>: try one OAuth flow step by step.</li>
    <li><a href="/.well-known/openid-configuration">OpenID Connect discovery document</a></li>
  </ul>
</section>`;
  return layout({ title: 'Home', body });
}

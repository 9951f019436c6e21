import { html } from './html.js';
import { layout } from './layout.js';

/** What the console says here after it sent the owner home (`/?done=<code>`); unknown codes show nothing. */
const DONE: Record<string, string> = {
  'signed-out': 'You are signed out.',
  deleted: 'Your account and everything in it was deleted.',
};

/** The landing page at `/`: what oauth3 is, and where an app developer starts; after signing out, a line saying so. */
export function homePage({ issuer, done }: { issuer: string; done?: unknown }): string {
  const notice = typeof done === 'string' ? DONE[done] : undefined;
  const body = html`${notice ? html`<p class="page-notice" role="status">${notice}</p>` : ''}
<section class="card" aria-labelledby="home-title">
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

import { html } from '../web/html.js';
import { layout } from '../web/layout.js';
import type { AppIdentity } from '../tee/dstack.js';

export interface DeploymentPageInput {
  issuer: string;
  /** What dstack reported about this app; undefined outside TEE mode. */
  identity?: AppIdentity;
}

/** What the "Verified deployment" badge means, for an owner, and how anyone checks it from outside. */
export function deploymentPage({ issuer, identity }: DeploymentPageInput): string {
  const tee = Boolean(identity);
  const command = `npm run oauth3 -- verify ${issuer} --allow-compose-hash ${identity?.composeHash ?? 'HASH'} --allow-os-image-hash ${identity?.osImageHash ?? 'HASH'}`;
  const body = tee
    ? html`<section class="card" aria-labelledby="deployment-title">
  <h1 id="deployment-title">Verified deployment</h1>
  <p>This oauth3 runs inside a confidential virtual machine (Intel TDX, managed by dstack). The key that encrypts the
    credentials of the accounts you connect is made inside that machine by dstack's key service, and exists nowhere
    else: not in the operator's settings, files or database. The operator can stop the service, but cannot read your
    credentials or use them outside the rules you set.</p>
  <h2>What runs here</h2>
  <dl class="facts">
    <dt>Compose hash</dt><dd><code class="wrap">${identity?.composeHash}</code></dd>
    <dt>App ID</dt><dd><code class="wrap">${identity?.appId}</code></dd>
    <dt>System image (dstack OS)</dt><dd><code class="wrap">${identity?.osImageHash ?? 'not reported'}</code></dd>
  </dl>
  <p>The compose hash is the fingerprint of the exact container image and settings dstack started. A different image or
    configuration would have a different hash.</p>
  <h2>Check it yourself</h2>
  <p>This page is served by the instance it describes, so do not take its word for it. Anyone can check, from their own
    computer, with a copy of oauth3 whose code they trust:</p>
  <pre class="wrap"><code>${command}</code></pre>
  <p>The command asks this server for a fresh hardware-signed report (a TDX quote), checks Intel's signatures on it,
    checks that it was made for this address and for the signing keys this server uses right now, and compares the
    compose hash and the system image with the ones you expect. Take the expected values from the releases you trust,
    not from this page: the compose hash from oauth3's release notes (or <code>deploy/dstack/render.mjs</code> run on
    that release's code), the image hash from dstack's.</p>
</section>`
    : html`<section class="card" aria-labelledby="deployment-title">
  <h1 id="deployment-title">Not a verified deployment</h1>
  <p>This oauth3 does not run in a confidential virtual machine: its operator holds the key that encrypts the
    credentials of connected accounts. Your credentials are still encrypted at rest and used only within the rules you
    set, but you are trusting the operator, as with any online service.</p>
  <p>Instances that run in a TEE show a "Verified deployment" mark on the consent page and in the console, and answer
    <code>${issuer}/attestation</code>, which anyone can check with <code>npm run oauth3 -- verify</code>.</p>
</section>`;
  return layout({ title: tee ? 'Verified deployment' : 'Deployment', body });
}

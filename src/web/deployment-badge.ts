import { html, type SafeHtml } from './html.js';

/** What the pages know of a TEE deployment: the compose hash dstack measured (TEE mode only). */
export interface DeploymentInfo {
  composeHash: string;
}

/**
 * The small "Verified deployment" mark on the consent page and the console, shown only in TEE mode. It links to
 * /deployment, which says what it means and how to check it without trusting this server.
 */
export function deploymentBadge(deployment: DeploymentInfo | undefined): SafeHtml | '' {
  if (!deployment) return '';
  const short = deployment.composeHash.slice(0, 12);
  return html`<a class="tee-badge" href="/deployment" title="Runs in an Intel TDX confidential VM; compose hash ${deployment.composeHash}"
  ><span aria-hidden="true">✓</span> Verified deployment <code>${short}…</code></a
>`;
}

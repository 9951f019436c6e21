import { html, type SafeHtml } from './html.js';

/**
 * The HTML document around every page. Pages are served under a strict Content-Security-Policy
 * (`script-src 'self'; style-src 'self'`, threat model D3), so nothing here or in a page may use inline
 * scripts, inline event handlers or style attributes: behaviour lives in /static/*.js, looks in /static/style.css.
 */
export interface LayoutInput {
  title: string;
  body: SafeHtml;
  scripts?: string[];
  /** Extra stylesheets after /static/style.css (the console adds its own). */
  styles?: string[];
  /** Navigation shown in the header (the console's sections). */
  nav?: SafeHtml;
  /** A class on <main>: the console uses a wider column than the sign-in card. */
  mainClass?: string;
}

export function layout({ title, body, scripts = [], styles = [], nav, mainClass = 'site-main' }: LayoutInput): string {
  const page = html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · oauth3</title>
<link rel="stylesheet" href="/static/style.css">
${styles.map((href) => html`<link rel="stylesheet" href="${href}">\n`)}</head>
<body>
<header class="site-header"><a class="brand" href="/">oauth3</a>${nav ?? ''}</header>
<main id="main" class="${mainClass}">
${body}
</main>
${scripts.map(scriptTag)}
</body>
</html>
`;
  return '<!doctype html>\n' + page.value;
}

/** UMD bundles (e.g. @simplewebauthn/browser) define globals and must load as classic scripts; ours are modules. */
function scriptTag(src: string): SafeHtml {
  return src.endsWith('.umd.js') ? html`<script src="${src}"></script>\n` : html`<script type="module" src="${src}"></script>\n`;
}

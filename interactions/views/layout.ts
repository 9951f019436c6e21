import { html, type SafeHtml } from './html.js';

/**
 * The HTML document around every page. Pages are served under a strict Content-Security-Policy
 * (`script-src 'self'; style-src 'self'`, SECURITY.md D3), so nothing here or in a page may use inline
 * scripts, inline event handlers or style attributes: behaviour lives in /static/*.js, looks in /static/style.css.
 */
export function layout({ title, body, scripts = [] }: { title: string; body: SafeHtml; scripts?: string[] }): string {
  const page = html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · oauth3</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header class="site-header"><a class="brand" href="/">oauth3</a></header>
<main id="main" class="site-main">
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

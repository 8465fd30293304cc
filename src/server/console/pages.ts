// The web console's HTTP side: one HTML page for every /console/ path (the script renders it from the path, using
// only the public API), the script and the stylesheet. Everything comes from this server: the Content Security
// Policy allows nothing else (no CDN, no inline script or style, no framing).
import { createHash } from 'node:crypto';
import type { Hono } from 'hono';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.gen.js';

export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

const version = (text: string) => createHash('sha256').update(text).digest('base64url').slice(0, 12);
const JS_VERSION = version(CONSOLE_JS);
const CSS_VERSION = version(CONSOLE_CSS);

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rmagent console</title>
<link rel="stylesheet" href="/console/assets/console.css?v=${CSS_VERSION}">
<script type="module" src="/console/assets/console.js?v=${JS_VERSION}"></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header id="top"><span class="brand">rmagent console</span></header>
<div class="layout">
<nav id="nav" aria-label="Main menu"></nav>
<main id="main" tabindex="-1">
<noscript><h1>JavaScript is off</h1><p>The rmagent console is a small script served by this server (nothing from elsewhere). Turn JavaScript on for this site, or use the API: see docs/server-api.md.</p></noscript>
<p>Loading…</p>
</main>
</div>
</body>
</html>
`;

export function addConsolePages(app: Hono): void {
  const page = () => new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS } });
  const asset = (body: string, type: string) => () =>
    new Response(body, { headers: { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'public, max-age=31536000, immutable', ...SECURITY_HEADERS } });
  app.get('/', () => new Response(null, { status: 302, headers: { location: '/console/rm' } }));
  app.get('/console/assets/console.js', asset(CONSOLE_JS, 'text/javascript'));
  app.get('/console/assets/console.css', asset(CONSOLE_CSS, 'text/css'));
  app.get('/console', page);
  app.get('/console/*', page);
}

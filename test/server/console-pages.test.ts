// The web console's HTTP side: every /console/ path gets the one page with a strict Content Security Policy, the
// script and stylesheet come from this server, nothing refers elsewhere, and the bundle in the source tree is
// the one `npm run console` makes from src/server/console/web/.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsoleAssets, GENERATED } from '../../scripts/console-assets.js';
import type { RunningServer } from '../../src/server/server.js';
import { serverIn, tempDir } from './helpers.js';

let server: RunningServer;
beforeAll(async () => {
  server = await serverIn(await tempDir());
});
afterAll(async () => {
  await server.stop();
});

describe('console pages', () => {
  it('serves the page on every console path with a CSP that allows only this server, and sends / there', async () => {
    for (const path of ['/console', '/console/rm', '/console/rm/monitoring/activate', '/console/activate']) {
      const res = await fetch(`${server.httpUrl}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      const html = await res.text();
      expect(html).toContain('<script type="module" src="/console/assets/console.js?v=');
      expect(html).not.toMatch(/https?:\/\//); // no CDN, nothing from elsewhere
      expect(html).not.toMatch(/<script>|style=/); // nothing inline: the CSP would refuse it anyway
    }
    const root = await fetch(`${server.httpUrl}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console/rm');
  });

  it('serves the script and the stylesheet, which load nothing from elsewhere', async () => {
    const js = await fetch(`${server.httpUrl}/console/assets/console.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const code = await js.text();
    expect(code).toContain('/api/v1');
    expect(code).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);
    expect(code).not.toContain('innerHTML');
    const css = await fetch(`${server.httpUrl}/console/assets/console.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).not.toMatch(/url\(|@import/);
    // The API still answers JSON errors on its own paths.
    expect((await fetch(`${server.httpUrl}/api/v1/devices`)).status).toBe(401);
  });

  it('carries the bundle `npm run console` makes from the web sources (run it after changing them)', async () => {
    expect(await readFile(GENERATED, 'utf8')).toBe(await buildConsoleAssets(process.cwd()));
  });
});

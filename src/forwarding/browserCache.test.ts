/*
 * A browser's private cache keeps `private` answers. The proxy's refusal of script and style
 * destinations (access/fetchDestination) and its text/plain rewrite act only on requests that
 * reach it: a JavaScript answer cached for a fetch() with a token must not be reused for a
 * later <script src> of the same URL. Found by a red-team pass over 0.3.0; fixed by
 * `Vary: Sec-Fetch-Dest, Authorization` (responseHeaders.varyByRequestKind).
 */
import http from 'node:http';
import net, { AddressInfo } from 'node:net';
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { createAgent, forward } from './forward';
import { refuseActiveDestination } from '../access/fetchDestination';

function listen(server: http.Server | net.Server): Promise<number> {
  return new Promise(r =>
    server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)),
  );
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const IN_CI = !!process.env.CI && process.env.CI !== 'false';
// Skipped without Chromium, except under CI, where launching fails the test.
const withBrowser = fs.existsSync(CHROMIUM) || IN_CI ? describe : describe.skip;

withBrowser("the browser's own cache", () => {
  it('never hands a <script> the JavaScript answer that a fetch() with a token left there', async () => {
    // The upstream: an S3-like object, JavaScript, Last-Modified a year ago, no Cache-Control
    // (heuristically fresh for weeks in a browser's private cache).
    const upstream = http.createServer((_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/javascript',
        'last-modified': new Date(Date.now() - 365 * 86400_000).toUTCString(),
        etag: '"e1"',
      });
      res.end("document.title = 'ran';");
    });
    const upstreamPort = await listen(upstream);
    const agent = createAgent('http:');
    const destinations: string[] = [];
    // The router's order and policy, on one origin with a page of "Backstage".
    const front = http.createServer((req, res) => {
      if (req.url === '/page') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(`<!doctype html><script>
          fetch('/proxy/evil.js', { headers: { authorization: 'Bearer t' } })
            .then(r => r.text())
            .then(() => {
              const s = document.createElement('script');
              s.src = '/proxy/evil.js';
              s.onerror = () => { document.title = 'blocked'; };
              s.onload = () => { if (document.title !== 'ran') document.title = 'loaded-not-run'; };
              document.head.append(s);
            });
        </script>`);
        return;
      }
      destinations.push(String(req.headers['sec-fetch-dest']));
      try {
        refuseActiveDestination(req);
      } catch {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end('{}');
        return;
      }
      forward(
        { protocol: 'http:', hostname: '127.0.0.1', port: upstreamPort, agent, timeout: 5000, allowedResponseHeaders: new Set() },
        { method: 'GET', path: '/evil.js', headers: { host: `127.0.0.1:${upstreamPort}` } },
        res,
        {
          responsePolicy: {
            privateCache: true,
            noAuthorizationHeader: req.headers.authorization === undefined,
          },
        },
      ).catch(() => res.destroy());
    });
    const frontPort = await listen(front);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${frontPort}/page`);
      await page.waitForFunction(() => document.title !== '', undefined, { timeout: 15000 });
      const title = await page.title();
      // Vary: Sec-Fetch-Dest, Authorization sends the <script> to the proxy, which refuses it
      // (without it the browser's cache answered and the script ran).
      expect({ title, script: destinations.includes('script') }).toEqual({ title: 'blocked', script: true });
    } finally {
      await browser.close();
      agent.destroy();
      await new Promise(r => front.close(r));
      await new Promise(r => upstream.close(r));
    }
  }, 40_000);
});

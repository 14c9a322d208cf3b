/*
 * A real browser against a real Backstage test backend with the plugin: Debian's headless
 * Chromium, driven by playwright-core, opens a corpus of answers (HTML, SVG, XML, XHTML, XSLT,
 * PDF, odd and listed Content-Types, S3 `response-*` overrides) through the proxy, and a
 * same-origin Backstage page loads proxied scripts, styles and workers. Every planted script
 * calls a beacon on the backend; no beacon may fire for proxied content.
 *
 * Positive controls, so that the test can fail: the same content opened straight from the
 * upstream fires its beacons, and the page's own script, style and worker (served by a test
 * plugin on the same backend, under the same helmet policy) run.
 *
 * The test backend has no helmet (a real backend's root router adds Backstage's policy, which
 * also blocks inline scripts): proxied documents are protected here by the proxy's own
 * headers alone, so their inline scripts detect an unsandboxed document. The test plugin's
 * page does get Backstage's helmet policy (`script-src 'self'`), as in a real backend.
 *
 * Chromium comes from CHROMIUM_PATH or /usr/bin/chromium. Without it the test is skipped with
 * a message, except under CI, where it fails.
 */
import fs from 'node:fs';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import express from 'express';
import { mockCredentials } from '@backstage/backend-test-utils';
import { coreServices, createBackendPlugin } from '@backstage/backend-plugin-api';
import { MiddlewareFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { Browser, BrowserContext, chromium, Page } from 'playwright-core';
import { RunningProxy, startProxy } from '../__testUtils__/startProxy';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const IN_CI = !!process.env.CI && process.env.CI !== 'false';
const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
if (!HAVE_CHROMIUM && !IN_CI) {
  // eslint-disable-next-line no-console
  console.warn(`browser.test: skipped, no Chromium at ${CHROMIUM} (set CHROMIUM_PATH); under CI it fails`);
}
const describeWithBrowser = HAVE_CHROMIUM || IN_CI ? describe : describe.skip;

const P = '/api/proxy-sigv4';
const ALICE = 'user:default/alice';

/** Beacons received by the test plugin, by id. */
const hits = new Set<string>();
let backendOrigin = '';

/** The script every planted script runs: it calls the beacon with its id. */
const beaconScript = (id: string) =>
  `(function(){var u=${JSON.stringify(`${backendOrigin}/api/browsertest/hit/`)}+${JSON.stringify(id)};` +
  `try{new Image().src=u}catch(e){}try{fetch(u,{mode:'no-cors'})}catch(e){}})();`;

/**
 * A test plugin beside the proxy: the beacon, and a Backstage page (not sandboxed, under
 * Backstage's own helmet policy) that loads scripts, styles and workers: its own, and the
 * proxy's.
 */
const browserTestPlugin = createBackendPlugin({
  pluginId: 'browsertest',
  register(env) {
    env.registerInit({
      deps: {
        httpRouter: coreServices.httpRouter,
        config: coreServices.rootConfig,
        logger: coreServices.logger,
      },
      async init({ httpRouter, config, logger }) {
        const router = express.Router();
        // Backstage's own helmet, as a real backend's root router applies it to every plugin
        // (the test backend applies none): the page gets Backstage's Content-Security-Policy.
        router.use(MiddlewareFactory.create({ config, logger }).helmet());
        router.get('/hit/:id', (req, res) => {
          hits.add(req.params.id);
          res.status(204).end();
        });
        router.get('/own.js', (_req, res) => {
          res.type('text/javascript').send(
            `${beaconScript('own-script')}new Worker('/api/browsertest/own-worker.js');` +
              `var q=new URLSearchParams(location.search).get('worker');if(q)new Worker(q);` +
              `var m=new URLSearchParams(location.search).get('module');if(m)import(m);`,
          );
        });
        router.get('/own-worker.js', (_req, res) => {
          res.type('text/javascript').send(beaconScript('own-worker'));
        });
        router.get('/own.css', (_req, res) => {
          res.type('text/css').send('#own { color: rgb(1, 2, 3) }');
        });
        router.get('/page', (req, res) => {
          const from = String(req.query.from); // a proxy route's path, e.g. /api/proxy-sigv4/open
          res.type('text/html').send(
            `<!doctype html><html><head>` +
              `<link rel="stylesheet" href="/api/browsertest/own.css">` +
              `<link rel="stylesheet" href="${from}/proxied.css">` +
              `<script src="/api/browsertest/own.js"></script>` +
              `<script src="${from}/beacon.js?id=page-script"></script>` +
              `<script type="module" src="${from}/beacon.js?id=page-module-script"></script>` +
              `</head><body><p id="own">own</p><p id="proxied">proxied</p></body></html>`,
          );
        });
        httpRouter.use(router);
        httpRouter.addAuthPolicy({ path: '/', allow: 'unauthenticated' });
      },
    });
  },
});

/** One answer of the upstream: its Content-Type (none: no header) and body. */
interface Entry {
  type?: string;
  body: (id: string) => string | Buffer;
}

const html = (id: string) =>
  `<!doctype html><html><head><script src="beacon.js?id=${id}"></script></head>` +
  `<body><script>${beaconScript(`${id}-inline`)}</script>hello</body></html>`;
const xhtml = (id: string) =>
  `<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head>` +
  `<script src="beacon.js?id=${id}"></script></head>` +
  `<body><script>${beaconScript(`${id}-inline`)}</script></body></html>`;
const svg = (id: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">` +
  `<script href="beacon.js?id=${id}"/><script>${beaconScript(`${id}-inline`)}</script>` +
  `<rect width="10" height="10"/></svg>`;
const xslt = (id: string) =>
  `<?xml version="1.0"?><?xml-stylesheet type="text/xsl" href="transform.xsl?id=${id}"?><root/>`;

/** A one-page PDF with correct offsets. */
function pdf(): Buffer {
  const stream = 'BT /F1 24 Tf 20 60 Td (Hello) Tj ET';
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 144] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets = objects.map((object, i) => {
    const offset = out.length;
    out += `${i + 1} 0 obj\n${object}\nendobj\n`;
    return offset;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map(o => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/**
 * The corpus: what the upstream answers, by the last segment of the path. `runsDirect`:
 * whether Chromium runs its script when opened straight from the upstream (the positive
 * control; some headers make Chromium see no HTML at all).
 */
const CORPUS: Record<string, Entry & { runsDirect: boolean }> = {
  'pdf-then-html': { type: 'application/pdf;, text/html', body: html, runsDirect: true },
  'pdf-quoted-then-html': { type: 'application/pdf; x="a,b", text/html', body: html, runsDirect: true },
  html: { type: 'text/html', body: html, runsDirect: true },
  'html-odd-case': { type: ' TEXT/HTML ; Charset="utf-8"', body: html, runsDirect: true },
  'html-then-star': { type: 'text/html, */*', body: html, runsDirect: true },
  'html-then-pdf': { type: 'text/html;charset=utf-8, application/pdf', body: html, runsDirect: false },
  'pdf-with-html-body': { type: 'application/pdf', body: html, runsDirect: false },
  'no-type': { body: html, runsDirect: true },
  'plain-quoted-html': { type: 'text/plain;a="x, text/html"', body: html, runsDirect: false },
  svg: { type: 'image/svg+xml', body: svg, runsDirect: true },
  'text-xml-xhtml': { type: 'text/xml', body: xhtml, runsDirect: true },
  'application-xml-xhtml': { type: 'application/xml', body: xhtml, runsDirect: true },
  xhtml: { type: 'application/xhtml+xml', body: xhtml, runsDirect: true },
  'xml-xslt': { type: 'text/xml', body: xslt, runsDirect: true },
  multipart: {
    type: 'multipart/x-mixed-replace; boundary=b',
    body: id => `--b\r\nContent-Type: text/html\r\n\r\n${html(id)}\r\n--b--\r\n`,
    runsDirect: false,
  },
  // Stored as harmless types; S3's response-content-type makes them what the caller asks.
  'stored-html': { type: 'text/plain', body: html, runsDirect: false },
  'stored-svg': { type: 'text/plain', body: svg, runsDirect: false },
  'stored-xhtml': { type: 'application/octet-stream', body: xhtml, runsDirect: false },
};

/** The S3 overrides opened (object, query): the upstream answers them as S3 does. */
const OVERRIDES: Record<string, [string, string]> = {
  'override-html': ['stored-html', 'response-content-type=text/html'],
  'override-pdf-then-html': [
    'stored-html',
    `response-content-type=${encodeURIComponent('application/pdf;, text/html')}`,
  ],
  'override-svg': [
    'stored-svg',
    `response-content-type=${encodeURIComponent('image/svg+xml')}&response-content-disposition=inline`,
  ],
  'override-xhtml': ['stored-xhtml', `response-content-type=${encodeURIComponent('application/xhtml+xml')}`],
};

/** Serves the corpus; like S3, `response-content-type` and the like choose the answer's headers. */
function corpusUpstream(request: http.IncomingMessage, response: http.ServerResponse) {
  const url = new URL(request.url!, 'http://upstream');
  const name = url.pathname.split('/').pop()!;
  const id = url.searchParams.get('id') ?? name;
  const headers: http.OutgoingHttpHeaders = {};
  let body: string | Buffer;
  if (name === 'beacon.js') {
    headers['content-type'] = 'text/javascript';
    body = beaconScript(id);
  } else if (name === 'proxied.css') {
    headers['content-type'] = 'text/css';
    body = '#proxied { color: rgb(4, 5, 6) }';
  } else if (name === 'transform.xsl') {
    headers['content-type'] = 'text/xsl';
    body =
      `<?xml version="1.0"?><xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">` +
      `<xsl:template match="/"><html><head><script src="beacon.js?id=${id}"></script></head><body/></html>` +
      `</xsl:template></xsl:stylesheet>`;
  } else if (name === 'doc.pdf') {
    headers['content-type'] = 'application/pdf';
    body = pdf();
  } else if (CORPUS[name]) {
    if (CORPUS[name].type !== undefined) headers['content-type'] = CORPUS[name].type;
    body = CORPUS[name].body(id);
  } else {
    response.writeHead(404).end();
    return;
  }
  headers['cache-control'] = 'public, max-age=600';
  headers['last-modified'] = 'Mon, 02 Nov 2026 10:00:00 GMT';
  for (const [key, value] of url.searchParams) {
    if (key.startsWith('response-')) headers[key.slice('response-'.length)] = value;
  }
  response.writeHead(200, headers).end(body);
}

describeWithBrowser('a browser opening proxied answers', () => {
  let upstream: http.Server;
  let upstreamOrigin: string;
  let proxy: RunningProxy;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    if (!HAVE_CHROMIUM) {
      throw new Error(`No Chromium at ${CHROMIUM}: install Debian's chromium or set CHROMIUM_PATH (required under CI)`);
    }
    upstream = http.createServer(corpusUpstream);
    await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve));
    upstreamOrigin = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const s3 = { service: 's3', region: 'us-east-1' };
    proxy = await startProxy(
      {
        '/open': { target: `${upstreamOrigin}/bucket`, ...s3, credentials: 'dangerously-allow-unauthenticated' },
        '/cookie': { target: `${upstreamOrigin}/bucket`, ...s3, credentials: 'user-cookie' },
      },
      // Backstage's policy upgrades http requests to https unless told not to (as an http
      // deployment must): the test backend is http.
      { backend: { csp: { 'upgrade-insecure-requests': false } } },
      { features: [browserTestPlugin] },
    );
    backendOrigin = proxy.baseUrl;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    context = await browser.newContext();
    const cookie = mockCredentials.limitedUser.cookie(ALICE);
    const [name, value] = cookie.split(';')[0].split(/=(.*)/s);
    await context.addCookies([{ name, value, url: backendOrigin }]);
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await proxy?.stop();
    if (upstream) await new Promise(resolve => upstream.close(resolve));
  });

  /**
   * Opens each URL as a link would, three tabs at a time (each sandboxed document gets a new
   * renderer process, which is slow), and returns the answers' statuses in order. A planted
   * script runs before the document's 'load', and its image beacon delays 'load' until the
   * beacon has been answered: once 'load' has fired, the beacon has been counted.
   */
  async function openEach(urls: string[]): Promise<(number | undefined)[]> {
    const statuses: (number | undefined)[] = [];
    let next = 0;
    const tab = async () => {
      const page = await context.newPage();
      try {
        while (next < urls.length) {
          const i = next++;
          const answer = page.waitForResponse(urls[i]);
          await page.goto(urls[i], { waitUntil: 'load', timeout: 10_000 }).catch(() => null);
          statuses[i] = (await answer).status();
        }
      } finally {
        await page.close();
      }
    };
    await Promise.all([tab(), tab(), tab()]);
    return statuses;
  }

  const documents = [
    ...Object.keys(CORPUS).filter(name => !name.startsWith('stored-')).map(name => ({ id: name, path: name })),
    ...Object.entries(OVERRIDES).map(([id, [stored, query]]) => ({ id, path: `${stored}?${query}` })),
  ];
  const withId = (path: string, id: string) => `${path}${path.includes('?') ? '&' : '?'}id=${id}`;

  it('runs the planted scripts when they are opened straight from the upstream (positive control)', async () => {
    hits.clear();
    await openEach(documents.map(d => `${upstreamOrigin}/bucket/${withId(d.path, `direct-${d.id}`)}`));
    const runs = (id: string) => CORPUS[id]?.runsDirect ?? true; // every override makes HTML, SVG or XHTML
    const expected = documents.filter(d => runs(d.id)).map(d => `direct-${d.id}`);
    expect([...hits].filter(h => !h.endsWith('-inline')).sort()).toEqual(expected.sort());
    // The inline scripts ran too, where there is one (the XSLT's output has none).
    expect(hits).toContain('direct-html-inline');
    expect(hits).toContain('direct-svg-inline');
  }, 30_000);

  // The whole corpus on the open route; on the cookie route (same code, but the caller is
  // signed in), the finding's own cases and the overrides.
  const onCookieRoute = (id: string) => /^(pdf-then-html|html|svg|override-.*)$/.test(id);
  it.each(['open', 'cookie'])(
    'runs no planted script opened through the proxy (%s route): documents, SVG, XML, XSLT, listed types, overrides',
    async route => {
      hits.clear();
      const urls = documents
        .filter(d => route === 'open' || onCookieRoute(d.id))
        .map(d => `${backendOrigin}${P}/${route}/${withId(d.path, `${route}-${d.id}`)}`);
      const statuses = await openEach(urls);
      // They were served (so the test saw them), yet ran nothing.
      expect(statuses).toEqual(urls.map(() => 200));
      expect([...hits]).toEqual([]);
    },
    30_000,
  );

  describe("a Backstage page, whose policy allows 'self' scripts and styles", () => {
    const load = async (route: string) => {
      hits.clear();
      const from = `${P}/${route}`;
      const page: Page = await context.newPage();
      const query = new URLSearchParams({
        from,
        worker: `${from}/beacon.js?id=page-worker`,
        module: `${from}/beacon.js?id=page-dynamic-import`,
      });
      await page.goto(`${backendOrigin}/api/browsertest/page?${query}`, { waitUntil: 'networkidle' });
      const colour = (id: string) =>
        page.evaluate(selector => getComputedStyle(document.getElementById(selector)!).color, id);
      const styles = { own: await colour('own'), proxied: await colour('proxied') };
      await page.close();
      return styles;
    };

    it.each(['open', 'cookie'])(
      'runs its own script, worker and style, and no script, module, worker or style from the proxy (%s route)',
      async route => {
        const styles = await load(route);
        // Positive controls: the page's own script, worker and stylesheet, same origin, ran.
        expect(hits).toContain('own-script');
        expect(hits).toContain('own-worker');
        expect(styles.own).toBe('rgb(1, 2, 3)');
        // Nothing from the proxy did.
        expect([...hits].filter(h => !h.startsWith('own-'))).toEqual([]);
        expect(styles.proxied).not.toBe('rgb(4, 5, 6)');
      },
      30_000,
    );
  });

  it('shows a PDF served through the proxy, sandboxed, in Chromium\'s viewer', async () => {
    const url = `${backendOrigin}${P}/open/doc.pdf`;
    const answer = await context.request.get(url);
    expect(answer.headers()['content-security-policy']).toMatch(/(^|, )sandbox$/);
    const page = await context.newPage();
    await page.goto(url).catch(() => null);
    // The viewer is an extension frame; its element reports the document's load state.
    let state: unknown;
    for (let i = 0; i < 100 && state !== 'success' && state !== 'failed'; i++) {
      const viewer = page.frames().find(f => f.url().startsWith('chrome-extension://'));
      state = await viewer
        ?.evaluate(() => (document.querySelector('pdf-viewer') as any)?.loadState_)
        .catch(() => undefined);
      if (state !== 'success') await page.waitForTimeout(100);
    }
    await page.close();
    expect(state).toBe('success');
  }, 30_000);

  it('keeps answers to a signed-in user out of shared caches, and leaves open answers as they were', async () => {
    const page = await context.newPage();
    const cookie = await page.goto(`${backendOrigin}${P}/cookie/html`);
    const open = await page.goto(`${backendOrigin}${P}/open/html`);
    await page.close();
    expect(cookie?.headers()['cache-control']).toBe('max-age=600, private');
    expect(open?.headers()['cache-control']).toBe('public, max-age=600');
  }, 30_000);
});

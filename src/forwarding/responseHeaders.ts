import { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import {
  extractMimeType,
  isJavaScriptMimeType,
  serializeMimeType,
  splitHeaderValue,
} from './mimeType';

/*
 * The one place that decides which upstream response headers reach the caller.
 */

export const DEFAULT_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-range',
  'content-disposition',
  'content-language',
  'accept-ranges',
  'etag',
  'last-modified',
  'cache-control',
  'expires',
  'retry-after',
  'location',
]);

const NEVER: ReadonlySet<string> = new Set([
  'set-cookie',
  'set-cookie2',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  // What would widen what a browser does with Backstage's origin: a service worker's scope
  // beyond its path, the site's storage and cookies wiped, a navigation elsewhere.
  'service-worker-allowed',
  'clear-site-data',
  'refresh',
  // Set by the plugin itself on every answer.
  'x-content-type-options',
]);

/**
 * True for a response header that never reaches the caller, whatever a route allows. Also
 * `access-control-*`: CORS is Backstage's to answer; an upstream's (an S3 bucket's CORS
 * rules) would let another site read what a signed-in browser fetched with its cookie.
 */
export function isNeverForwardedResponseHeader(name: string): boolean {
  return NEVER.has(name) || name.startsWith('proxy-') || name.startsWith('access-control-');
}

/** Picks the upstream response headers that go back to the caller. */
export function filterResponseHeaders(
  incoming: IncomingHttpHeaders,
  extra: ReadonlySet<string>,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  // RFC 9110 7.6.1: the headers the upstream's Connection names are for this hop only.
  const named = new Set(
    String(incoming.connection ?? '')
      .split(',')
      .map(token => token.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || isNeverForwardedResponseHeader(name) || named.has(name)) {
      continue;
    }
    if (
      DEFAULT_RESPONSE_HEADERS.has(name) ||
      name.startsWith('x-amz-') ||
      name.startsWith('x-amzn-') ||
      extra.has(name)
    ) {
      out[name] = value;
    }
  }
  return out;
}

/** What the request says about how its answer may be used; computed by the router. */
export interface ResponsePolicy {
  /** The answer was given to an authenticated caller: a shared cache must not keep it (cache-control public/s-maxage become private). */
  privateCache?: boolean;
  /**
   * The request carried no `Authorization` header: a page's `<script src>` or `<link href>`
   * could have made it (they send cookies, never tokens), so a JavaScript or CSS type becomes
   * `text/plain`. API callers send a token and get the upstream's type unchanged.
   */
  noAuthorizationHeader?: boolean;
}

/**
 * Makes an answer inert in browsers, whatever its type or how it is loaded:
 * - `Content-Security-Policy: sandbox`, added to any policy already set (Backstage's helmet)
 *   or passed from the upstream, so that all apply. An HTML, SVG or XML object opened through
 *   the proxy (a `user-cookie` or open route can be opened by a link) then runs no script and
 *   has an opaque origin: it cannot act as the backend's origin with the caller's cookie. Every
 *   answer, PDFs too: Chromium shows a sandboxed PDF (measured with Chromium 156), and the
 *   former PDF exemption, decided on the header's first type while browsers use the last,
 *   let `application/pdf;, text/html` run script in the backend's origin.
 * - `X-Content-Type-Options: nosniff`, replacing the upstream's: a browser uses the declared
 *   type, never a sniffed one, and refuses to run as a script (or apply as a style) what is
 *   not declared JavaScript (or CSS).
 * - with `policy.noAuthorizationHeader`, a JavaScript or CSS type (as the browser extracts it)
 *   becomes `text/plain`, so that Backstage's pages (which allow `script-src 'self'`, and the
 *   proxy is 'self') cannot load it as a script or style even in a browser that sends no
 *   `Sec-Fetch-Dest` (see access/fetchDestination).
 * - with `policy.privateCache`, see {@link makeCachePrivate}.
 * Images, media, downloads and the bodies `fetch()` callers read are unaffected.
 */
export function addSandboxPolicy(
  headers: OutgoingHttpHeaders,
  alreadySet: OutgoingHttpHeaders[string],
  policy: ResponsePolicy = {},
): void {
  // Every answer, whatever its type or an S3 response-* override asked for: no exemption.
  const policies = [alreadySet, headers['content-security-policy']]
    .flat()
    .filter((p): p is string => typeof p === 'string' && p !== '');
  // Policies separated by commas are enforced each, as separate headers would be.
  headers['content-security-policy'] = [...policies, 'sandbox'].join(', ');
  headers['x-content-type-options'] = 'nosniff';
  if (policy.noAuthorizationHeader) {
    neutraliseActiveType(headers);
  }
  if (policy.privateCache) {
    makeCachePrivate(headers);
  }
}

/** What a browser's cache must tell apart: see {@link varyByRequestKind}. */
const VARY_ON = ['Sec-Fetch-Dest', 'Authorization'];

/**
 * Adds `Vary: Sec-Fetch-Dest, Authorization` to an answer, beside what is already set
 * (Backstage's cors sets `Vary: Origin`) or allowlisted from the upstream. The refusal of
 * active destinations and the text/plain rewrite act on requests that reach the proxy; without
 * this, a JavaScript answer that a `fetch()` with a token left in the browser's own cache
 * (private caches keep `private` answers) would be reused for a later `<script src>` of the
 * same URL, which then never reaches the proxy.
 */
export function varyByRequestKind(
  headers: OutgoingHttpHeaders,
  alreadySet: OutgoingHttpHeaders[string],
): void {
  const present = [alreadySet, headers.vary]
    .flat()
    .filter((v): v is string => typeof v === 'string')
    .flatMap(v => v.split(','))
    .map(v => v.trim())
    .filter(Boolean);
  if (present.includes('*')) {
    headers.vary = '*';
    return;
  }
  const seen = new Set(present.map(v => v.toLowerCase()));
  headers.vary = [...present, ...VARY_ON.filter(v => !seen.has(v.toLowerCase()))].join(', ');
}

/**
 * Replaces a JavaScript or CSS Content-Type (the type a browser extracts from the header,
 * not its first value) by `text/plain`, keeping the charset. Opened in a tab it still shows
 * as text; with `nosniff` no browser runs it as a script or applies it as a style.
 */
export function neutraliseActiveType(headers: OutgoingHttpHeaders): void {
  const type = extractMimeType(headers['content-type']);
  if (!type || !(isJavaScriptMimeType(type) || type.essence === 'text/css')) {
    return;
  }
  const charset = type.parameters.get('charset');
  headers['content-type'] = serializeMimeType({
    type: 'text',
    subtype: 'plain',
    essence: 'text/plain',
    parameters: new Map(charset === undefined ? [] : [['charset', charset]]),
  });
}

/** Cache-Control directives that let a shared cache store an answer it otherwise would not. */
const SHARED_CACHE_DIRECTIVES: ReadonlySet<string> = new Set(['public', 's-maxage', 'private']);

/**
 * Keeps an answer given to an authenticated caller out of shared caches (a CDN or corporate
 * proxy in front of Backstage would otherwise serve one user's object to another):
 * `public` and `s-maxage` are removed and `private` is added; the rest (`max-age`, `no-store`,
 * ...) stays, so the caller's own browser caches as the upstream said. `private` is added
 * when the upstream sent no Cache-Control too: a shared cache may store a 200 with a
 * Last-Modified heuristically, and a request authenticated by a cookie carries no
 * `Authorization` header that would stop it. Cache-Control fields aimed at CDNs
 * (`CDN-Cache-Control`, `*-CDN-Cache-Control`, `Surrogate-Control`), which override
 * Cache-Control there, are removed.
 */
export function makeCachePrivate(headers: OutgoingHttpHeaders): void {
  for (const name of Object.keys(headers)) {
    if (/^(?:[a-z0-9-]+-)?cdn-cache-control$|^surrogate-control$/i.test(name)) {
      delete headers[name];
    }
  }
  const value = headers['cache-control'];
  const joined = value === undefined ? '' : [value].flat().join(', ');
  const kept = splitHeaderValue(joined).filter(directive => {
    const name = directive.split('=', 1)[0].trim().toLowerCase();
    return directive !== '' && !SHARED_CACHE_DIRECTIVES.has(name);
  });
  headers['cache-control'] = [...kept, 'private'].join(', ');
}

/**
 * The policy for one request's answer (every answer is sandboxed in any case): answers given
 * on Backstage credentials are private; a request without an Authorization header (what
 * `<script src>`, `<link href>` or `new Worker()` send) gets no active type.
 */
export function responsePolicyFor(
  req: { headers: IncomingHttpHeaders },
  route: { credentialsPolicy: string },
): ResponsePolicy {
  return {
    privateCache: route.credentialsPolicy !== 'dangerously-allow-unauthenticated',
    noAuthorizationHeader: req.headers.authorization === undefined,
  };
}

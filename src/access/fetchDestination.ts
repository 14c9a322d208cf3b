import { IncomingMessage } from 'node:http';
import { NotAllowedError } from '@backstage/errors';

/*
 * Browsers say what a request is for in `Sec-Fetch-Dest` (W3C Fetch Metadata), a header page
 * script cannot set. Backstage's own pages allow `script-src 'self'` and `style-src 'self'`,
 * and the proxy is 'self': an object planted in a bucket, loaded by `<script src>` from a
 * Backstage page (or a sandboxed proxied page escaping through one), would run with the
 * backend's origin. So the proxy serves only what a browser shows or hands to script as data.
 */

/**
 * The destinations the proxy serves: navigations and frames (their answers are sandboxed),
 * `<object>`/`<embed>` (a document there is sandboxed too; a PDF goes to the browser's viewer,
 * which runs nothing in the page's origin), images, media, text tracks and fonts (never run),
 * and `empty`: `fetch()` and XMLHttpRequest, which hand the body to script as data.
 *
 * Everything else is refused, by an allowlist so that a destination browsers add later is
 * refused until someone decides otherwise: `script`, `style`, the workers and worklets,
 * `xslt` (transforms the document that loads it), `json` (a JSON module: part of a module
 * graph, and `fetch()` reads JSON without it), `manifest` (an app manifest decides a web app's
 * scope and start page), `report`, `webidentity`, `speculationrules`, ...
 */
const SERVED_DESTINATIONS: ReadonlySet<string> = new Set([
  'document',
  'iframe',
  'frame',
  'object',
  'embed',
  'image',
  'audio',
  'video',
  'track',
  'font',
  'empty',
]);

/**
 * Throws a 403 NotAllowedError when a browser says it is loading the answer as something
 * that runs or styles a page: a script, a stylesheet, a worker, ... Requests without
 * `Sec-Fetch-Dest` (curl, backends, SDKs, older browsers) pass; so do a page's navigations,
 * frames, images, media, fonts and `fetch()` calls.
 */
export function refuseActiveDestination(req: Pick<IncomingMessage, 'headers'>): void {
  const header = req.headers['sec-fetch-dest'];
  if (header === undefined) return;
  // A structured-field token; anything else (a list, repeated headers) is not a browser's.
  const destination = String(header).trim().toLowerCase();
  if (SERVED_DESTINATIONS.has(destination)) return;
  throw new NotAllowedError(
    `The proxy does not serve answers to be loaded as "${destination.slice(0, 40)}" (Sec-Fetch-Dest): ` +
      'proxied objects may not run as scripts, styles or workers in Backstage pages; ' +
      'read them with fetch(), or open them as documents (they are sandboxed)',
  );
}

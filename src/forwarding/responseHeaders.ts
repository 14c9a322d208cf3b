import { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

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
]);

/** True for a response header that never reaches the caller. */
export function isNeverForwardedResponseHeader(name: string): boolean {
  return NEVER.has(name) || name.startsWith('proxy-');
}

/** Picks the upstream response headers that go back to the caller. */
export function filterResponseHeaders(
  incoming: IncomingHttpHeaders,
  extra: ReadonlySet<string>,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || isNeverForwardedResponseHeader(name)) {
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

/**
 * Sandboxes an answer for browsers that open it: `Content-Security-Policy: sandbox`, added to
 * any policy already set (Backstage's helmet) or passed from the upstream, so that both apply.
 * An HTML or SVG object opened through the proxy (a `user-cookie` or open route can be opened
 * by a link) then runs no script and has no origin: it cannot act as the backend's origin
 * with the caller's cookie. Images, media, downloads and `fetch()` callers are unaffected.
 * PDFs are left out: some browsers show a sandboxed PDF blank, and a PDF's scripts run in
 * the viewer, never in the page's origin.
 */
export function addSandboxPolicy(
  headers: OutgoingHttpHeaders,
  alreadySet: OutgoingHttpHeaders[string],
): void {
  if (/^\s*application\/pdf\s*(?:;|$)/i.test(String(headers['content-type'] ?? ''))) {
    return;
  }
  const policies = [alreadySet, headers['content-security-policy']]
    .flat()
    .filter((p): p is string => typeof p === 'string' && p !== '');
  // Policies separated by commas are enforced each, as separate headers would be.
  headers['content-security-policy'] = [...policies, 'sandbox'].join(', ');
}

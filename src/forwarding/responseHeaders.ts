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

import { InputError } from '@backstage/errors';
import { IncomingHttpHeaders } from 'node:http';

/*
 * The one place that decides which caller headers reach AWS. Everything not allowed here
 * is dropped; nothing the caller sends can replace what the proxy signs.
 */

/** Backstage's proxy-backend allowlist, plus what AWS APIs take from a client. */
export const DEFAULT_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  // As @backstage/plugin-proxy-backend forwards by default
  'cache-control',
  'content-language',
  'content-length',
  'content-type',
  'expires',
  'last-modified',
  'pragma',
  'accept',
  'accept-language',
  'user-agent',
  // What AWS APIs need from the client
  'range',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
  'content-md5',
  'content-encoding',
  'content-disposition',
]);

/** Headers that never go upstream, whatever a route allows. */
const NEVER: ReadonlySet<string> = new Set([
  'authorization', // the caller's Backstage token
  'cookie',
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'forwarded',
  'x-real-ip',
  'x-amz-date',
  'x-amz-security-token',
  'x-amz-content-sha256',
  // the caller cannot set the payload mode; the route does
  'x-amz-decoded-content-length',
]);

/** True for a header that may never be forwarded upstream. */
export function isNeverForwardedRequestHeader(name: string): boolean {
  return (
    NEVER.has(name) ||
    name.startsWith('proxy-') ||
    name.startsWith('x-forwarded-') ||
    name.startsWith('sec-')
  );
}

/**
 * S3 headers that reach beyond the route's bucket or change who can read an object: a copy
 * source names any bucket the credentials can read. Forwarded only when the route lists
 * them in `allowedHeaders`.
 */
const NEEDS_OPT_IN = /^x-amz-(copy-source|grant-|website-redirect-location$)/;

/** The client-chosen AWS headers: x-amz-target, x-amz-meta-*, x-amz-acl, x-amz-checksum-*, x-amzn-* ... */
function isClientAwsHeader(name: string): boolean {
  return name.startsWith('x-amz-') || name.startsWith('x-amzn-');
}

/**
 * Picks the caller headers that go upstream: the default allowlist, x-amz-* / x-amzn-*
 * the client may choose (but for copy sources, grants and website redirects), and the
 * route's `allowedHeaders`. Names come out lower-case; a repeated header is joined with
 * `,` (as SigV4 canonicalises it). A value with non-ASCII characters is a 400.
 */
export function filterRequestHeaders(
  incoming: IncomingHttpHeaders,
  extra: ReadonlySet<string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || isNeverForwardedRequestHeader(name)) {
      continue;
    }
    if (
      (DEFAULT_REQUEST_HEADERS.has(name) ||
        (isClientAwsHeader(name) && !NEEDS_OPT_IN.test(name)) ||
        extra.has(name))
    ) {
      const joined = Array.isArray(value) ? value.join(',') : value;
      // eslint-disable-next-line no-control-regex
      if (/[^\x00-\x7f]/.test(joined)) {
        // Node reads header bytes as latin1 but the signer hashes UTF-8: they would differ.
        throw new InputError(
          `Header ${name} has non-ASCII characters; encode its value (RFC 2047 or RFC 5987)`,
        );
      }
      out[name] = joined;
    }
  }
  return out;
}

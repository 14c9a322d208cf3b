import { InputError } from '@backstage/errors';
import { IncomingHttpHeaders } from 'node:http';
import { RequestHeaderFieldsTooLargeError } from './errors';

/*
 * The one place that decides which caller headers reach AWS. Everything not allowed here
 * is dropped; nothing the caller sends can replace what the proxy signs.
 */

/**
 * How a caller's request header is treated:
 * - `never`: dropped, whatever the route allows (configuring it in `allowedHeaders` fails
 *   the start);
 * - `default`: forwarded (and signed, unless unsignable) on every route;
 * - `opt-in`: forwarded only when the route lists it in `allowedHeaders`.
 */
export type HeaderForwarding = 'never' | 'default' | 'opt-in';

/**
 * The request header table: every header the proxy knows, how it is forwarded and why. A
 * name ending in `*` is a prefix (the longest matching entry wins; an exact name beats a
 * prefix). Not listed: `x-amz-*` and `x-amzn-*` are `default` (client-chosen AWS headers:
 * x-amz-target, x-amz-invocation-type, ...), anything else `opt-in`.
 *
 * The `default` class keeps only headers that cannot widen who may read or write, weaken
 * retention, or make the route's account pay for someone else. Every request header of S3's
 * API model (@aws-sdk/client-s3 3.1169: PutObject, CopyObject, CreateMultipartUpload,
 * UploadPart(Copy), CompleteMultipartUpload, CreateBucket, PutBucketPolicy, DeleteObject(s),
 * PutObjectRetention, PutObjectLegalHold, PutObjectLockConfiguration, RestoreObject,
 * RenameObject, CreateSession, ...) is listed; requestHeaders.test.ts checks that against the
 * installed model, so a new S3 header must be classified here before the tests pass.
 * Opting in: list each exact name in the route's `allowedHeaders` (`x-amz-grant-read`, not
 * `x-amz-grant-*`).
 */
export const REQUEST_HEADERS: Readonly<
  Record<string, readonly [HeaderForwarding, string]>
> = {
  // ---- never: credentials, framing, hop-by-hop, client identity, what the proxy signs
  authorization: ['never', "the caller's Backstage token"],
  cookie: ['never', "the caller's Backstage session"],
  host: ['never', "the route's target host is set by the proxy"],
  connection: ['never', 'hop-by-hop (RFC 9110 7.6.1); headers it names are dropped too'],
  'keep-alive': ['never', 'hop-by-hop'],
  'transfer-encoding': ['never', 'hop-by-hop; the proxy frames the upstream request itself'],
  te: ['never', 'hop-by-hop'],
  trailer: ['never', 'hop-by-hop'],
  upgrade: ['never', 'hop-by-hop; no protocol switch through the proxy'],
  expect: ['never', 'the proxy decides when a body waits for 100 Continue'],
  forwarded: ['never', 'client identity and steering (RFC 7239)'],
  'x-real-ip': ['never', 'client identity'],
  'proxy-*': ['never', 'hop-by-hop credentials and proxy steering'],
  'x-forwarded-*': ['never', 'client identity and steering'],
  'sec-*': ['never', 'browser-controlled fetch metadata, meaningless upstream'],
  'x-amz-date': ['never', 'set by the signer'],
  'x-amz-security-token': ['never', "set by the signer: the route's session token"],
  'x-amz-content-sha256': ['never', "set by the signer: the caller cannot choose the payload hash"],
  'x-amz-decoded-content-length': ['never', 'the route, not the caller, chooses the payload mode'],
  'x-amz-trailer': ['never', 'the route, not the caller, chooses the payload mode (trailing checksums of aws-chunked bodies)'],

  // ---- default: Backstage proxy-backend's allowlist
  'cache-control': ['default', "stored object metadata (S3) or a cache hint"],
  'content-language': ['default', 'describes the body'],
  'content-length': ['default', 'describes the body (replaced by the proxy for a buffered body)'],
  'content-type': ['default', 'describes the body'],
  expires: ['default', 'stored object metadata (S3)'],
  'last-modified': ['default', 'describes the body'],
  pragma: ['default', 'cache hint (never signed)'],
  accept: ['default', 'content negotiation'],
  'accept-language': ['default', 'content negotiation'],
  'user-agent': ['default', 'client software (never signed)'],
  // ---- default: what AWS APIs need from a client
  range: ['default', 'reads part of an object'],
  'if-match': ['default', 'a condition: can only make a request fail'],
  'if-none-match': ['default', 'a condition: can only make a request fail'],
  'if-modified-since': ['default', 'a condition: can only make a request fail'],
  'if-unmodified-since': ['default', 'a condition: can only make a request fail'],
  'if-range': ['default', 'a condition: can only make a request fail'],
  'content-md5': ['default', 'integrity check of the body'],
  'content-encoding': ['default', 'describes the body'],
  'content-disposition': ['default', 'stored object metadata (S3)'],

  // ---- S3, default: describe, check or condition the request's own object
  'x-amz-meta-*': ['default', 'user metadata of the object written'],
  'x-amz-checksum-*': ['default', 'integrity checks (and x-amz-checksum-mode / -algorithm / -type)'],
  'x-amz-sdk-checksum-algorithm': ['default', 'integrity check'],
  'x-amz-expected-bucket-owner': ['default', 'a condition: fails the request if another account owns the bucket'],
  'x-amz-source-expected-bucket-owner': ['default', 'a condition on the copy source owner'],
  'x-amz-server-side-encryption-customer-*': ['default', 'an SSE-C key: only narrows who can read; required to read SSE-C objects'],
  'x-amz-storage-class': ['default', "storage class of the object the caller writes anyway, billed to the bucket owner; no access change"],
  'x-amz-metadata-directive': ['default', 'CopyObject: copy or replace user metadata (metadata grants nothing)'],
  'x-amz-object-annotation-directive': ['default', 'CopyObject: copy or replace annotations (only with an opted-in copy source)'],
  'x-amz-write-offset-bytes': ['default', 'append position (directory buckets)'],
  'x-amz-mp-object-size': ['default', 'a check on the completed upload size'],
  'x-amz-if-match-initiated-time': ['default', 'a condition'],
  'x-amz-if-match-last-modified-time': ['default', 'a condition'],
  'x-amz-if-match-size': ['default', 'a condition'],
  'x-amz-object-if-match': ['default', 'a condition'],
  'x-amz-client-token': ['default', 'idempotency token'],
  'x-amz-max-parts': ['default', 'paging of a read'],
  'x-amz-part-number-marker': ['default', 'paging of a read'],
  'x-amz-object-attributes': ['default', 'what a read returns'],
  'x-amz-optional-object-attributes': ['default', 'what a listing returns'],
  'x-amz-create-session-mode': ['default', 'CreateSession: ReadOnly can only narrow the ReadWrite default'],
  'x-amz-skip-destination-validation': ['default', 'PutBucketNotificationConfiguration: skips a check; the destinations come from the body'],
  'x-amz-transition-default-minimum-object-size': ['default', 'PutBucketLifecycleConfiguration: which small objects transition; no access change'],
  'x-amz-bucket-namespace': ['default', 'CreateBucket: the name space of the new bucket'],
  'x-amz-fwd-*': ['default', 'WriteGetObjectResponse (S3 Object Lambda): the answer to a pending request'],
  'x-amz-request-route': ['default', 'WriteGetObjectResponse: which pending request is answered'],
  'x-amz-request-token': ['default', 'WriteGetObjectResponse: the token of the pending request'],

  // ---- S3, opt-in: widen who may read or write
  'x-amz-acl': ['opt-in', 'a canned ACL (public-read, public-read-write, authenticated-read) opens an object or bucket to everyone or every AWS account'],
  'x-amz-grant-*': ['opt-in', 'grants read, write or ACL rights to any account or to AllUsers'],
  'x-amz-object-ownership': ['opt-in', 'CreateBucket: ObjectWriter or BucketOwnerPreferred turn ACLs back on'],
  'x-amz-tagging': ['opt-in', 'object tags feed ABAC conditions (s3:ExistingObjectTag/<key> in Allow or Deny statements) and lifecycle filters (expiry)'],
  'x-amz-tagging-directive': ['opt-in', 'CopyObject: REPLACE drops the tags a Deny may be conditioned on'],
  'x-amz-server-side-encryption': ['opt-in', "overrides the bucket's default encryption: AES256 drops the KMS key policy that gates reads; aws:kms alone uses the account-wide aws/s3 key"],
  'x-amz-server-side-encryption-aws-kms-key-id': ['opt-in', 'a KMS key of another account: that account can read the object, or revoke the key'],
  'x-amz-server-side-encryption-context': ['opt-in', 'KMS encryption context that key policies and grants condition on'],
  'x-amz-server-side-encryption-bucket-key-enabled': ['opt-in', "a bucket key makes the encryption context the bucket's ARN, not the object's, which key policies may condition on"],
  'x-amz-website-redirect-location': ['opt-in', "a website bucket then redirects readers to any URL (open redirect on the bucket's domain)"],
  // ---- S3, opt-in: reach beyond the route's bucket and path
  'x-amz-copy-source*': ['opt-in', "CopyObject / UploadPartCopy read any bucket and key the route's credentials can read, not just the route's"],
  'x-amz-rename-source*': ['opt-in', "RenameObject moves any key of the bucket, outside the route's path"],
  // ---- S3, opt-in: retention and versions
  'x-amz-object-lock-*': ['opt-in', "Object Lock mode, retain-until date, legal and event holds: retention the route's owner cannot lift (COMPLIANCE: not even the root user), billed all along"],
  'x-amz-bypass-governance-retention': ['opt-in', 'deletes or shortens the retention of objects under GOVERNANCE-mode Object Lock'],
  'x-amz-bucket-object-lock-enabled': ['opt-in', 'CreateBucket with Object Lock, which cannot be turned off'],
  'x-amz-bucket-object-lock-token': ['opt-in', 'enables Object Lock on, or replicates into, a locked bucket'],
  'x-amz-mfa': ['opt-in', 'the MFA code of MFA Delete: permanently deletes versions, changes versioning'],
  'x-amz-confirm-remove-self-bucket-access': ['opt-in', "PutBucketPolicy: a policy that locks the account's own principals out of the bucket"],
  // ---- Lambda Invoke, opt-in: what the caller gets back or hands the function
  'x-amz-log-type': ['opt-in', "Lambda Invoke with Tail returns the end of the function's log (x-amz-log-result), which may hold secrets"],
  'x-amz-client-context': ['opt-in', 'Lambda Invoke: caller-chosen context the function may trust as coming from the route'],
  // ---- S3, opt-in: someone else's bill
  'x-amz-request-payer': ['opt-in', "accepts a Requester Pays bucket's charges: the route's account pays for another account's bucket"],
};

const EXACT = new Map<string, HeaderForwarding>();
const PREFIXES: [string, HeaderForwarding][] = [];
for (const [name, [forwarding]] of Object.entries(REQUEST_HEADERS)) {
  if (name.endsWith('*')) PREFIXES.push([name.slice(0, -1), forwarding]);
  else EXACT.set(name, forwarding);
}
// Longest prefix first: x-amz-server-side-encryption-customer-* before any shorter one.
PREFIXES.sort((a, b) => b[0].length - a[0].length);

/** How a (lower-case) request header name is forwarded, from {@link REQUEST_HEADERS}. */
export function requestHeaderForwarding(name: string): HeaderForwarding {
  const exact = EXACT.get(name);
  if (exact) return exact;
  for (const [prefix, forwarding] of PREFIXES) {
    if (name.startsWith(prefix)) return forwarding;
  }
  return name.startsWith('x-amz-') || name.startsWith('x-amzn-') ? 'default' : 'opt-in';
}

/** The non-AWS headers forwarded on every route (Backstage's proxy-backend allowlist, plus what AWS APIs take from a client). */
export const DEFAULT_REQUEST_HEADERS: ReadonlySet<string> = new Set(
  Object.entries(REQUEST_HEADERS)
    .filter(([name, [forwarding]]) => forwarding === 'default' && !name.startsWith('x-amz'))
    .map(([name]) => name),
);

/** True for a header that may never be forwarded upstream. */
export function isNeverForwardedRequestHeader(name: string): boolean {
  return requestHeaderForwarding(name) === 'never';
}

/**
 * At most this many caller headers are forwarded (counted after filtering, a repeated
 * header once); more is a 431. Apache httpd, a common reverse proxy in front of Backstage,
 * refuses more than 100 request header fields by default (LimitRequestFields), and an S3
 * upload carries about 15 system headers plus its user metadata (at most 2 KB in all).
 */
export const MAX_FORWARDED_HEADERS = 100;

/**
 * At most this many bytes of caller headers (names and values) are forwarded, and signed;
 * more is a 431. S3 limits a PUT request's headers to 8 KB (S3 user guide, "Working with
 * object metadata"; within it user metadata to 2 KB), API Gateway the request line and
 * header values together to 10,240 bytes (HTTP API quotas); the proxy adds its own
 * (authorization, x-amz-date, the session token). Node's own limit on the whole request
 * head is 16 KB.
 */
export const MAX_FORWARDED_HEADER_BYTES = 8192;

/** The lower-case header names a Connection header lists (RFC 9110 7.6.1). */
function connectionOptions(value: string | string[] | undefined): Set<string> {
  const joined = Array.isArray(value) ? value.join(',') : value ?? '';
  return new Set(
    joined
      .split(',')
      .map(token => token.trim().toLowerCase())
      .filter(Boolean),
  );
}

/**
 * Picks the caller headers that go upstream: the `default` ones of {@link REQUEST_HEADERS}
 * and the route's `allowedHeaders` (`extra`), never a `never` one, and none named by the
 * caller's Connection header (RFC 9110 7.6.1: those are for this hop only, whatever their
 * name). Names come out lower-case; a repeated header is joined with `,` (as SigV4
 * canonicalises it). A value with non-ASCII characters is a 400; more than
 * {@link MAX_FORWARDED_HEADERS} headers or {@link MAX_FORWARDED_HEADER_BYTES} bytes a 431.
 * Linear in the size of the headers.
 */
export function filterRequestHeaders(
  incoming: IncomingHttpHeaders,
  extra: ReadonlySet<string>,
): Record<string, string> {
  const hopByHop = connectionOptions(incoming.connection);
  const out: Record<string, string> = {};
  let count = 0;
  let bytes = 0;
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || hopByHop.has(name)) {
      continue;
    }
    const forwarding = requestHeaderForwarding(name);
    if (forwarding === 'never' || (forwarding === 'opt-in' && !extra.has(name))) {
      continue;
    }
    const joined = Array.isArray(value) ? value.join(',') : value;
    // eslint-disable-next-line no-control-regex
    if (/[^\x00-\x7f]/.test(joined)) {
      // Node reads header bytes as latin1 but the signer hashes UTF-8: they would differ.
      throw new InputError(
        `Header ${name} has non-ASCII characters; encode its value (RFC 2047 or RFC 5987)`,
      );
    }
    out[name] = joined;
    count += 1;
    bytes += name.length + joined.length;
  }
  if (count > MAX_FORWARDED_HEADERS) {
    throw new RequestHeaderFieldsTooLargeError(
      `Too many request headers to forward (${count}); at most ${MAX_FORWARDED_HEADERS} are forwarded`,
    );
  }
  if (bytes > MAX_FORWARDED_HEADER_BYTES) {
    throw new RequestHeaderFieldsTooLargeError(
      `Request headers too large to forward (${bytes} bytes of names and values); at most ${MAX_FORWARDED_HEADER_BYTES} are forwarded`,
    );
  }
  return out;
}

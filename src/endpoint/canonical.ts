import { InputError, NotAllowedError } from '@backstage/errors';

/*
 * The one place where request paths and query strings are decoded, checked and re-encoded.
 *
 * The proxy never forwards the caller's path or query as it arrived: it decodes them strictly
 * and writes them again in SigV4 canonical form (RFC 3986, uppercase hex), and that exact
 * string is both signed and sent. See FIELD-NOTES section 1.2-1.3 for the rules.
 */

/** A request path or query that cannot be forwarded safely; becomes a 400. */
export class BadRequestPathError extends InputError {}

const UNRESERVED = /[A-Za-z0-9\-_.~]/;
const HEX = '0123456789ABCDEF';
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** RFC 3986 encoding: unreserved characters literal, every other UTF-8 byte as %XX. */
export function rfc3986(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out +=
      byte < 0x80 && UNRESERVED.test(ch)
        ? ch
        : `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  return out;
}

/**
 * Strict percent-decoding into UTF-8 text. A malformed escape, invalid or overlong UTF-8
 * and control characters (NUL, CR, LF, ...) are refused rather than passed on.
 */
export function strictDecode(raw: string, what: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code === 0x25 /* % */) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new BadRequestPathError(`Malformed percent-encoding in the ${what}`);
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (code < 0x80) {
      bytes.push(code);
    } else {
      // Node's HTTP parser hands non-ASCII request-line bytes over as latin1 characters.
      if (code > 0xff) {
        throw new BadRequestPathError(`Invalid character in the ${what}`);
      }
      bytes.push(code);
    }
  }
  let text: string;
  try {
    text = utf8.decode(Uint8Array.from(bytes));
  } catch {
    throw new BadRequestPathError(`Invalid UTF-8 in the ${what}`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) {
    throw new BadRequestPathError(`Control character in the ${what}`);
  }
  return text;
}

/** True when a decoded piece is, or hides, a dot segment (`.`/`..`, also behind `/`, `\` or further encoding). */
function hidesDotSegment(decoded: string): boolean {
  let text = decoded;
  for (let round = 0; round < 4; round++) {
    if (text.split(/[/\\]/).some(part => part === '.' || part === '..')) {
      return true;
    }
    let next: string;
    try {
      next = decodeURIComponent(text);
    } catch {
      return false;
    }
    if (next === text) {
      return false;
    }
    text = next;
  }
  return true;
}

/**
 * Canonical wire form of a request path (the part after the route prefix).
 *
 * - `s3`: the whole path is decoded and each character encoded once, `/` kept literal:
 *   S3 reads `%2F` as `/` anyway, and computes its canonical form from the decoded key.
 *   Empty segments (`a//b`) are kept: they are part of the key.
 * - every other service: split on `/` first, so that an encoded slash stays `%2F` inside
 *   its segment; empty segments dropped (as the signer and the services normalise them);
 *   each segment decoded and encoded once. The signer encodes it a second time.
 *
 * Dot segments, in any encoding, are refused in both.
 */
export function canonicalPath(rawPath: string, s3: boolean): string {
  let segments = rawPath.split('/');
  if (!s3) {
    // The signer and the services collapse '//' for non-S3 paths: send it collapsed too,
    // keeping the leading and trailing slash, so that what is sent is what is signed.
    segments = segments.filter(
      (segment, i) => segment !== '' || i === 0 || i === segments.length - 1,
    );
  }
  const out: string[] = [];
  for (const segment of segments) {
    const decoded = strictDecode(segment, 'path');
    if (hidesDotSegment(decoded)) {
      throw new BadRequestPathError(
        'Dot segments (. or ..) are not allowed in the path',
      );
    }
    out.push(s3 ? decoded.split('/').map(rfc3986).join('/') : rfc3986(decoded));
  }
  return out.join('/');
}

/**
 * Query parameter names (compared lower-case, so in any case an upstream might accept) that
 * carry a caller's own AWS authentication; never forwarded: the proxy signs requests itself.
 *
 * - SigV4 (and SigV4a) presigned URLs: the X-Amz-* parameters.
 * - SigV2 query authentication: `AWSAccessKeyId` and `Signature` (S3's presigned URLs and every
 *   query-protocol service: SQS, SNS, EC2, ...), with `SignatureMethod` and `SignatureVersion`
 *   (query-protocol services). A route's service name does not say which API answers behind a
 *   custom domain, so these are refused on every route. An API of one's own that needs a
 *   parameter named `signature` cannot take it through this proxy.
 */
const AUTH_QUERY_PARAMS: ReadonlyMap<string, string> = new Map([
  ...[
    'x-amz-algorithm',
    'x-amz-credential',
    'x-amz-signature',
    'x-amz-signedheaders',
    'x-amz-security-token',
    'x-amz-date',
    'x-amz-expires',
    'x-amz-region-set',
  ].map((name): [string, string] => [name, 'SigV4']),
  ...['awsaccesskeyid', 'signature', 'signaturemethod', 'signatureversion'].map(
    (name): [string, string] => [name, 'SigV2'],
  ),
]);

/**
 * `Expires` is refused on S3 routes only. S3 reads it as the expiry of SigV2 query
 * authentication and has no other parameter of that name. Alone it authenticates nothing,
 * anywhere: SigV2 needs `AWSAccessKeyId` and `Signature`, which are refused on every route. An
 * API of one's own (API Gateway, a Lambda function URL) may define an `expires` parameter
 * of its own (a link lifetime, a cache hint), and query-protocol services take SigV2's
 * expiry only together with those two: so elsewhere it is forwarded (and signed).
 */
const S3_AUTH_QUERY_PARAMS: ReadonlySet<string> = new Set(['expires']);

/**
 * S3 subresources (compared lower-case) whose answer is a credential: `GET /?session`
 * (CreateSession, S3 Express directory buckets) returns session keys for the bucket, usable
 * without the proxy, by anyone allowed a GET on the route. Refused on S3 routes (403).
 */
const S3_CREDENTIAL_SUBRESOURCES: ReadonlySet<string> = new Set(['session']);

/**
 * At most this many query parameters (repeated keys counted each time) are forwarded; more
 * is a 400. AWS's own front doors take URLs of at most 8,192 bytes (CloudFront, API Gateway
 * edge-optimised APIs) or 10,240 (API Gateway regional APIs): at 8 bytes a parameter
 * (`key=val&`), 1,000 parameters fill such a URL, and no AWS API needs as many in one
 * query (S3 uses at most a dozen; query-protocol batch calls such as SQS SendMessageBatch
 * a few hundred, in a POST body). Signing stays linear in the query's size either way (see
 * signing/signRequest); this bounds the work of one request.
 */
export const MAX_QUERY_PARAMETERS = 1000;

/** A query string parsed for signing (decoded values) and its canonical wire form. */
export interface CanonicalQuery {
  /** Decoded parameters, as `@smithy/signature-v4` takes them. */
  params: Record<string, string | string[]>;
  /** The encoded, sorted query string (no leading `?`), sent exactly as signed. */
  wire: string;
}

/**
 * Parses a raw query string: `+` is a space, `%2B` a plus, a key without `=` has the
 * empty value, repeated keys are kept. The wire form is {@link formatCanonicalQuery} of the
 * parameters. More than {@link MAX_QUERY_PARAMETERS} parameters, authentication parameters
 * (see AUTH_QUERY_PARAMS; `Expires` too with `s3`), with `s3` a repeated key or any `x-amz-*`
 * or `x-amzn-*` key (S3 reads them as headers), and malformed encodings are a 400.
 */
export function canonicalQuery(rawQuery: string, s3 = false): CanonicalQuery {
  const parts = rawQuery.split('&').filter(part => part !== '');
  if (parts.length > MAX_QUERY_PARAMETERS) {
    // Counted before anything is decoded: refusing costs no more than reading.
    throw new BadRequestPathError(
      `Too many query parameters (${parts.length}); at most ${MAX_QUERY_PARAMETERS} are forwarded`,
    );
  }
  // No prototype: a key such as __proto__ must be an ordinary, signed parameter.
  const params: Record<string, string | string[]> = Object.create(null);
  for (const part of parts) {
    const eq = part.indexOf('=');
    const rawKey = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    const key = strictDecode(rawKey.replace(/\+/g, ' '), 'query');
    const value = strictDecode(rawValue.replace(/\+/g, ' '), 'query');
    if (key === '') {
      throw new BadRequestPathError('Empty query parameter name');
    }
    const lower = key.toLowerCase();
    const scheme =
      AUTH_QUERY_PARAMS.get(lower) ??
      (s3 && S3_AUTH_QUERY_PARAMS.has(lower) ? 'SigV2' : undefined);
    if (scheme) {
      throw new BadRequestPathError(
        `Query parameter ${key} is reserved for ${scheme} authentication; the proxy signs requests itself`,
      );
    }
    if (s3 && (lower.startsWith('x-amz-') || lower.startsWith('x-amzn-'))) {
      // S3 applies x-amz-* query parameters as headers (how the SDKs' presigned URLs carry
      // them): x-amz-acl, x-amz-copy-source, x-amz-grant-* would pass around the route's
      // header rules and the permission check's reading of the headers.
      throw new BadRequestPathError(
        `Query parameter ${key} is refused on S3 routes: S3 reads x-amz-* parameters as headers; send it as a header, where the route's header rules apply`,
      );
    }
    if (s3 && S3_CREDENTIAL_SUBRESOURCES.has(lower)) {
      throw new NotAllowedError(
        `Query parameter ${key} is refused on S3 routes: CreateSession would hand the caller credentials for the bucket`,
      );
    }
    const prior = params[key];
    if (prior !== undefined && s3) {
      // S3 builds its canonical query from the first value of a repeated key only (aws4
      // does the same; AWS SDK issue aws/aws-sdk-go#1495 shows S3's answer): what the proxy
      // signs and sends could never match. No S3 operation repeats a parameter.
      throw new BadRequestPathError(
        `Query parameter ${key} is repeated; S3 reads only its first value: send it once`,
      );
    }
    if (prior === undefined) params[key] = value;
    else if (typeof prior === 'string') params[key] = [prior, value];
    else prior.push(value);
  }
  return { params, wire: formatCanonicalQuery(params) };
}

/**
 * The SigV4 canonical query string of decoded parameters: keys and values RFC 3986-encoded,
 * sorted by encoded key, then by encoded value; `key=` for an empty value. The proxy sends
 * exactly this string and signs exactly this string (signing/signRequest hands it to the
 * signer), so the two cannot differ. O(n log n) in the number of parameters.
 */
export function formatCanonicalQuery(params: Record<string, string | string[]>): string {
  const byKey: [string, string | string[]][] = Object.keys(params).map(key => [
    rfc3986(key),
    params[key],
  ]);
  byKey.sort((a, b) => byCodeUnit(a[0], b[0]));
  const pieces: string[] = [];
  for (const [encodedKey, value] of byKey) {
    const values = typeof value === 'string' ? [value] : value;
    for (const encodedValue of values.map(rfc3986).sort(byCodeUnit)) {
      pieces.push(`${encodedKey}=${encodedValue}`);
    }
  }
  return pieces.join('&');
}

function byCodeUnit(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

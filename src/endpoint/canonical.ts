import { InputError } from '@backstage/errors';

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

/** Query parameter names that carry a caller's own SigV4 authentication; never forwarded. */
const AUTH_QUERY_PARAMS = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-signature',
  'x-amz-signedheaders',
  'x-amz-security-token',
  'x-amz-date',
  'x-amz-expires',
]);

/** A query string parsed for signing (decoded values) and its canonical wire form. */
export interface CanonicalQuery {
  /** Decoded parameters, as `@smithy/signature-v4` takes them. */
  params: Record<string, string | string[]>;
  /** The encoded, sorted query string (no leading `?`), sent exactly as signed. */
  wire: string;
}

/**
 * Parses a raw query string: `+` is a space, `%2B` a plus, a key without `=` has the
 * empty value, repeated keys are kept. The wire form is sorted by encoded key, then by
 * encoded value, as SigV4 canonicalises it.
 */
export function canonicalQuery(rawQuery: string): CanonicalQuery {
  const byKey = new Map<string, { key: string; values: string[] }>();
  for (const part of rawQuery.split('&')) {
    if (part === '') {
      continue;
    }
    const eq = part.indexOf('=');
    const rawKey = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    const key = strictDecode(rawKey.replace(/\+/g, ' '), 'query');
    const value = strictDecode(rawValue.replace(/\+/g, ' '), 'query');
    if (key === '') {
      throw new BadRequestPathError('Empty query parameter name');
    }
    if (AUTH_QUERY_PARAMS.has(key.toLowerCase())) {
      throw new BadRequestPathError(
        `Query parameter ${key} is reserved for SigV4 authentication; the proxy signs requests itself`,
      );
    }
    const encodedKey = rfc3986(key);
    const entry = byKey.get(encodedKey) ?? { key, values: [] };
    entry.values.push(value);
    byKey.set(encodedKey, entry);
  }
  // No prototype: a key such as __proto__ must be an ordinary, signed parameter.
  const params: Record<string, string | string[]> = Object.create(null);
  const pieces: string[] = [];
  for (const encodedKey of [...byKey.keys()].sort(byCodeUnit)) {
    const { key, values } = byKey.get(encodedKey)!;
    params[key] = values.length === 1 ? values[0] : values;
    for (const encodedValue of values.map(rfc3986).sort(byCodeUnit)) {
      pieces.push(`${encodedKey}=${encodedValue}`);
    }
  }
  return { params, wire: pieces.join('&') };
}

function byCodeUnit(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

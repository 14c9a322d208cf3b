/*
 * fast-check generators of what a caller can send a SigV4 proxy and what an upstream can
 * answer it: paths (encoded, dot segments, encoded slashes, unicode, the characters S3
 * keys trip over), queries (repeated keys, `+`, empty values, odd encodings, AWS's own
 * parameter names), header sets (x-amz-*, hop-by-hop, named by Connection, repeated, odd
 * spacing), bodies and their framing (Content-Length or chunked, in pieces down to one
 * byte), content types (lists, parameters, the types browsers render), and upstream
 * answers (status, content types, headers and bodies that echo the request and its
 * session token, delivered a byte at a time). Everything generated is plain data, so that
 * a failing case prints readably and shrinks.
 */
import fc from 'fast-check';

// ---------------------------------------------------------------------------------------
// Percent-encoding as a caller might write it

/** Percent-encodes every UTF-8 byte of `text`, with upper- or lower-case hex. */
export function percentEncode(text: string, lowerHex = false): string {
  const out = [...Buffer.from(text, 'utf8')]
    .map(b => `%${b.toString(16).padStart(2, '0').toUpperCase()}`)
    .join('');
  return lowerHex ? out.toLowerCase() : out;
}

/** Characters S3 keys and proxies disagree on, and the ones a URL must encode. */
const AWKWARD = [
  "'", '(', ')', '!', '*', ':', '@', '+', ',', ';', '=', '&', '$', '[', ']', '{', '}',
  '|', '^', '`', '"', '<', '>', '~', '-', '_', '.',
];
/** Characters that go on the wire only encoded (Node's parser refuses them raw). */
const MUST_ENCODE = [' ', '%', '?', '#', '/', '\\', '\t', 'é', 'ß', '日本', '😀', 'e\u0301', '\u00a0', '\u2028', '\ufeff', '\u{10ffff}'];

const hexCase = fc.boolean();

/** Letters and digits. */
const plainWord = fc.stringMatching(/^[A-Za-z0-9]{1,6}$/);

/** A piece of a path segment as written on the wire (never a raw `/`). */
export const pathAtom: fc.Arbitrary<string> = fc.oneof(
  { weight: 20, arbitrary: plainWord },
  { weight: 6, arbitrary: fc.constantFrom(...AWKWARD, '\\') },
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom(...AWKWARD, ...MUST_ENCODE), hexCase)
      .map(([c, lower]) => percentEncode(c, lower)),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }), hexCase)
      .map(([s, lower]) => percentEncode(s, lower)),
  },
  // Dot segments and slashes in every spelling, and encodings the proxy must refuse.
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '.', '..', '%2e', '%2E%2e', '.%2e', '%2e.', '%252e%252e',
      '%2F', '%2f', '%5C', '%5c', '%252F',
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('%', '%zz', '%2', '%00', '%0a', '%c0%ae', '%ed%a0%80', '%u002e', '%7f'),
  },
);

/** A path segment: pieces joined (empty makes `//`). */
export const pathSegment = fc
  .array(pathAtom, { minLength: 0, maxLength: 4 })
  .map(atoms => atoms.join(''));

/** What follows the route prefix: '' or `/segment/...`, maybe with a trailing slash. */
export const restPath: fc.Arbitrary<string> = fc.oneof(
  { weight: 1, arbitrary: fc.constant('') },
  {
    weight: 12,
    arbitrary: fc
      .tuple(fc.array(pathSegment, { minLength: 1, maxLength: 5 }), fc.boolean())
      .map(([segments, trailing]) => `/${segments.join('/')}${trailing ? '/' : ''}`),
  },
);

// ---------------------------------------------------------------------------------------
// Queries

/** Parameter names, AWS's own among them (refused or meaningful) and ones that repeat. */
const QUERY_NAMES = [
  'a', 'A', 'b', 'prefix', 'delimiter', 'list-type', 'max-keys', 'versionId', 'uploads',
  'partNumber', 'uploadId', 'delete', 'acl', 'tagging', 'policy', 'Action', 'Version',
  'response-content-type', 'response-content-disposition', 'response-cache-control', 'x-id',
];
/** Query authentication parameters (SigV4's and SigV2's): a caller may not bring its own. */
const RESERVED_QUERY_NAMES = [
  'X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token', 'x-amz-date',
  'AWSAccessKeyId', 'Signature', 'Expires',
];

/** A piece of a query name or value as written on the wire. */
const queryAtom: fc.Arbitrary<string> = fc.oneof(
  { weight: 20, arbitrary: plainWord },
  { weight: 6, arbitrary: fc.constantFrom('+', '%2B', '%2b', '%20', ' ', '%26', '%3D', '=', '%3F', '?', '/', '%2F', ':', '@', '!', "'", '(', ')', '*', ',', ';', '$', '~', '.', '-', '_', '[', ']', '|', '"', '{', '}', '^', '`', '<', '>', '\\') },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom(...AWKWARD, ...MUST_ENCODE), hexCase)
      .map(([c, lower]) => percentEncode(c, lower)),
  },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3 }), hexCase)
      .map(([s, lower]) => percentEncode(s, lower)),
  },
  { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%00', '%c0%ae') },
);

const queryText = (maxLength: number) =>
  fc.array(queryAtom, { minLength: 0, maxLength }).map(a => a.join(''));

/** One `name[=value]` pair, as written (a space written raw becomes `+`, as browsers do). */
const queryPair: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      { weight: 12, arbitrary: fc.constantFrom(...QUERY_NAMES) },
      { weight: 1, arbitrary: fc.constantFrom(...RESERVED_QUERY_NAMES) },
      { weight: 8, arbitrary: fc.array(queryAtom, { minLength: 1, maxLength: 3 }).map(a => a.join('')) },
      { weight: 1, arbitrary: fc.constant('') },
    ),
    fc.oneof(
      { weight: 1, arbitrary: fc.constant<string | undefined>(undefined) },
      { weight: 1, arbitrary: fc.constant('') },
      { weight: 4, arbitrary: queryText(4) },
    ),
  )
  .map(([name, value]) =>
    (value === undefined ? name : `${name}=${value}`).replace(/ /g, '+'),
  );

/** The raw query without `?`, or undefined for none; repeated keys, empty pairs and all. */
export const rawQuery: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 2, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant('') },
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.array(queryPair, { minLength: 1, maxLength: 8 }), fc.constantFrom('', '', '', '&', '&&'))
      .map(([pairs, trailing]) => pairs.join('&') + trailing),
  },
);

// ---------------------------------------------------------------------------------------
// Content types

/** Content-Type values: what browsers render, lists whose last entry wins, odd spellings. */
export const contentType: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'text/html', 'TEXT/HTML; charset=utf-8', 'text/html;charset="a,b"', 'image/svg+xml',
      'application/xhtml+xml', 'text/xml', 'application/xml', 'application/rss+xml',
      'application/pdf', 'application/pdf;, text/html', 'application/pdf, text/html',
      'application/pdf; x="y, text/html"', 'text/html, application/pdf', 'application/pdf;,text/html;,*/*',
      'text/plain', 'application/json', 'application/octet-stream', 'image/png',
      'text/javascript', 'text/css', 'multipart/x-mixed-replace; boundary=x',
      'unknown/unknown', 'application/unknown', '*/*', 'text/plain, */*', '', 'html', 'text/',
      '/html', 'text/html ; x', ' text/html ', 'text / html', 'application/pdf\t, text/html',
      'application/x-www-form-urlencoded', 'multipart/form-data; boundary=----x', 'application/x-amz-json-1.0',
    ),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.constantFrom('text', 'application', 'image', 'TEXT', 'x', 'multipart'),
        fc.constantFrom('html', 'pdf', 'xml', 'svg+xml', 'plain', 'json', 'foo+xml', 'xhtml+xml', 'HTML'),
        fc.constantFrom('', ';', '; charset=utf-8', ';,', '; q="a,b"', ' '),
      )
      .map(([t, s, p]) => `${t}/${s}${p}`),
  },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.constantFrom('application/pdf', 'text/html', 'text/plain', 'image/svg+xml', '*/*', 'foo', ';', 'text/xml'), { minLength: 2, maxLength: 4 })
      .map(list => list.join(', ')),
  },
);

// ---------------------------------------------------------------------------------------
// Headers

/** Header names a caller might send: AWS's, hop-by-hop ones, ones a proxy must drop. */
const HEADER_NAMES = [
  'x-amz-meta-a', 'x-amz-meta-b', 'X-Amz-Meta-A', 'x-amz-acl', 'x-amz-grant-read',
  'x-amz-grant-full-control', 'x-amz-copy-source', 'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id', 'x-amz-object-lock-mode',
  'x-amz-object-lock-legal-hold', 'x-amz-bypass-governance-retention', 'x-amz-request-payer',
  'x-amz-website-redirect-location', 'x-amz-tagging', 'x-amz-storage-class', 'x-amz-target',
  'x-amz-checksum-sha256', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256',
  'X-Amz-Content-Sha256', 'x-amz-decoded-content-length', 'x-amzn-trace-id', 'x-amz-user-agent',
  'keep-alive', 'te', 'trailer', 'proxy-authorization', 'proxy-connection', 'x-forwarded-for',
  'x-forwarded-host', 'forwarded', 'x-real-ip', 'cookie', 'sec-fetch-site', 'range', 'if-match',
  'if-none-match', 'accept', 'accept-language', 'accept-encoding', 'user-agent', 'cache-control',
  'content-md5', 'content-encoding', 'content-disposition', 'content-language', 'pragma',
  'x-custom', 'x-api-key', 'origin', 'referer', 'via', 'expect',
];

/** Header values: spacing SigV4 canonicalises, lists, odd bytes a caller can still send. */
const headerValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 16, arbitrary: fc.stringMatching(/^[!-~]{0,12}$/) },
  { weight: 6, arbitrary: fc.constantFrom('a  b', ' a ', 'a,b', 'a, b', '"q"', 'a\tb', '', ' ', 'private', 'bytes=0-0', '*', '100-continue', 'trailers', 'close') },
  { weight: 1, arbitrary: fc.constantFrom('caf\u00e9', '\u00ff', 'x\u0080y') },
);

/** One header line (name, value); a Connection header names others. */
export const headerLine: fc.Arbitrary<[string, string]> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.tuple(fc.constantFrom(...HEADER_NAMES), headerValue).map(([n, v]) =>
      // 'expect' other than 100-continue is Node's 417, not the proxy's to judge.
      (n === 'expect' ? [n, '100-continue'] : [n, v]) as [string, string],
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constant('content-type'), contentType) as fc.Arbitrary<[string, string]>,
  },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.constantFrom('keep-alive', 'close', 'x-amz-meta-a', 'x-amz-meta-b', 'x-custom', 'range', 'x-amz-acl', 'accept', 'content-md5', 'cache-control'), { minLength: 1, maxLength: 3 })
      .map(names => ['Connection', names.join(', ')] as [string, string]),
  },
);

export const headerSet = fc.array(headerLine, { maxLength: 10 });

// ---------------------------------------------------------------------------------------
// Bodies and their framing

export interface BodyShape {
  bytes: Buffer;
  /** Content-Length, or chunked in pieces of these sizes (repeated to the end). */
  framing: { kind: 'length' } | { kind: 'chunked'; sizes: number[] };
}

const bodyBytes: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) },
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 2048 }).map(a => Buffer.from(a)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 48 * 1024 }), fc.string({ minLength: 1, maxLength: 8 }))
      .map(([n, pattern]) => Buffer.alloc(n, pattern)),
  },
);

export const bodyShape: fc.Arbitrary<BodyShape> = fc
  .tuple(
    bodyBytes,
    fc.oneof(
      fc.constant<BodyShape['framing']>({ kind: 'length' }),
      fc.constant<BodyShape['framing']>({ kind: 'chunked', sizes: [1] }),
      fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 5 }).map(
        sizes => ({ kind: 'chunked', sizes }) as BodyShape['framing'],
      ),
    ),
  )
  .map(([bytes, framing]) => ({ bytes, framing }));

/** Frames a body as chunked, in pieces of the given sizes (cycled), with the final empty chunk. */
export function chunked(bytes: Buffer, sizes: number[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (let i = 0; offset < bytes.length; i++) {
    const size = Math.min(sizes[i % sizes.length], bytes.length - offset);
    parts.push(Buffer.from(`${size.toString(16)}\r\n`, 'latin1'), bytes.subarray(offset, offset + size), Buffer.from('\r\n', 'latin1'));
    offset += size;
  }
  parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------
// Whole requests

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export interface RequestShape<R extends string = string> {
  route: R;
  method: string;
  /** The path after the route prefix, as written. */
  rest: string;
  query?: string;
  /** How the target is written: origin form, or absolute form naming a host. */
  targetForm: 'origin' | 'absolute-self' | 'absolute-evil';
  /** The Host header names the proxy, or the evil upstream. */
  host: 'self' | 'evil';
  headers: [string, string][];
  body?: BodyShape;
}

export function requestShape<R extends string>(routes: readonly R[]): fc.Arbitrary<RequestShape<R>> {
  return fc.record({
    route: fc.constantFrom(...routes),
    method: fc.constantFrom(...METHODS),
    rest: restPath,
    query: rawQuery,
    targetForm: fc.constantFrom('origin', 'origin', 'origin', 'absolute-self', 'absolute-evil'),
    host: fc.constantFrom('self', 'self', 'self', 'evil'),
    headers: headerSet,
    body: fc.option(bodyShape, { nil: undefined, freq: 2 }),
  }) as fc.Arbitrary<RequestShape<R>>;
}

/** Where the placeholders of a request's bytes point. */
export interface Addresses {
  /** The proxy's `host:port`. */
  self: string;
  /** A host:port that no route names. */
  evil: string;
  /** The mount path and route prefix, e.g. `/api/proxy-sigv4/api`. */
  prefix: string;
  /** The caller's Authorization header value, if any. */
  authorization?: string;
}

/** The request's bytes, exactly as the caller writes them. */
export function requestBytes(shape: RequestShape, at: Addresses): Buffer {
  const pathAndQuery = `${at.prefix}${shape.rest}${shape.query === undefined ? '' : `?${shape.query}`}`;
  const target =
    shape.targetForm === 'origin'
      ? pathAndQuery
      : `http://${shape.targetForm === 'absolute-self' ? at.self : at.evil}${pathAndQuery}`;
  const lines = [`${shape.method} ${target} HTTP/1.1`, `Host: ${shape.host === 'self' ? at.self : at.evil}`];
  if (at.authorization) lines.push(`Authorization: ${at.authorization}`);
  for (const [name, value] of shape.headers) lines.push(`${name}: ${value}`);
  lines.push('Connection: close');
  let body: Buffer = Buffer.alloc(0);
  if (shape.body) {
    if (shape.body.framing.kind === 'length') {
      lines.push(`Content-Length: ${shape.body.bytes.length}`);
      body = shape.body.bytes;
    } else {
      lines.push('Transfer-Encoding: chunked');
      body = chunked(shape.body.bytes, shape.body.framing.sizes);
    }
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

// ---------------------------------------------------------------------------------------
// Upstream answers

/** What an upstream header or body may carry back: constants, or parts of the request. */
export type Echo =
  | 'constant'
  /** The request's x-amz-security-token, as it arrived. */
  | 'token'
  /** The same, percent-encoded (as in a Location or a URL in a body). */
  | 'token-encoded'
  /** The request's Authorization header. */
  | 'authorization'
  /** Every header of the request, as S3's SignatureDoesNotMatch document does with its canonical request. */
  | 'canonical-request';

export interface AnswerShape {
  status: number;
  /** Content-Type lines (none, one, or several). */
  contentTypes: string[];
  /** S3 honours `response-content-type` on a GET: the answer then takes the query's type. */
  honourResponseContentType: boolean;
  headers: [string, Echo][];
  body: { kind: 'none' } | { kind: 'text'; template: 'html' | 'svg' | 'xml-error' | 'json-error' | 'plain'; echo: Echo };
  framing: 'length' | 'chunked';
  /** Body written in pieces of this size (1: a byte at a time, each its own chunk when chunked). */
  pieceSize: number;
}

const ANSWER_HEADER_NAMES = [
  'x-amz-request-id', 'x-amz-meta-echo', 'x-amzn-errormessage', 'x-amz-id-2', 'etag',
  'location', 'content-disposition', 'cache-control', 'x-custom-echo', 'set-cookie',
  'content-security-policy', 'x-content-type-options', 'www-authenticate',
];

export const answerShape: fc.Arbitrary<AnswerShape> = fc.record({
  status: fc.constantFrom(200, 200, 200, 201, 203, 206, 300, 301, 302, 307, 400, 401, 403, 404, 409, 412, 416, 429, 500, 501, 502, 503, 504),
  contentTypes: fc.array(contentType, { maxLength: 3 }),
  honourResponseContentType: fc.boolean(),
  headers: fc.array(
    fc.tuple(
      fc.constantFrom(...ANSWER_HEADER_NAMES),
      fc.constantFrom<Echo>('constant', 'token', 'token-encoded', 'authorization', 'canonical-request'),
    ),
    { maxLength: 4 },
  ),
  body: fc.oneof(
    fc.constant<AnswerShape['body']>({ kind: 'none' }),
    fc
      .tuple(
        fc.constantFrom('html', 'svg', 'xml-error', 'json-error', 'plain'),
        fc.constantFrom<Echo>('constant', 'token', 'token-encoded', 'authorization', 'canonical-request'),
      )
      .map(([template, echo]) => ({ kind: 'text', template, echo }) as AnswerShape['body']),
  ),
  framing: fc.constantFrom('length', 'chunked'),
  pieceSize: fc.constantFrom(1, 1, 3, 64, 100_000),
}) as fc.Arbitrary<AnswerShape>;

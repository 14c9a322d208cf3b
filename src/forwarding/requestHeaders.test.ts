/*
 * The request header table: every S3 request header is classified; the ones that can widen
 * access, weaken retention or bill someone else are dropped by default and forwarded (and
 * signed, as aws4 checks in the verifying upstream) only with the route's opt-in; headers
 * named by the caller's Connection header are dropped; too many or too large is a 431.
 */
import request from 'supertest';
import {
  filterRequestHeaders,
  MAX_FORWARDED_HEADER_BYTES,
  MAX_FORWARDED_HEADERS,
  REQUEST_HEADERS,
  requestHeaderForwarding,
} from './requestHeaders';
import { statusOf } from './errors';
import { startVerifyingUpstream, VerifyingUpstream } from '../../localAws';
import { RunningProxy, startProxy, TEST_CREDENTIALS, USER } from '../__testUtils__/startProxy';

/**
 * The request headers of S3's API model, from the installed AWS SDK (a development
 * dependency of Backstage's backend-defaults): every operation's input members bound to a
 * header (`x-amz-meta-*` for the prefix ones).
 */
function s3ModelRequestHeaders(): Map<string, string[]> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const model = require('@aws-sdk/client-s3') as Record<string, unknown>;
  const headers = new Map<string, string[]>();
  for (const [name, schema] of Object.entries(model)) {
    if (!name.endsWith('Request$') || !Array.isArray(schema)) continue;
    for (const member of (schema[5] ?? []) as unknown[]) {
      const traits = Array.isArray(member) ? member[1] : undefined;
      if (!traits || typeof traits !== 'object') continue;
      for (const [trait, value] of Object.entries(traits)) {
        if (trait !== 'httpHeader' && trait !== 'httpPrefixHeaders') continue;
        const header = `${String(value).toLowerCase()}${trait === 'httpPrefixHeaders' ? '*' : ''}`;
        headers.set(header, [...(headers.get(header) ?? []), name.replace(/Request\$$/, '')]);
      }
    }
  }
  return headers;
}

const S3_HEADERS = s3ModelRequestHeaders();

/** An example header name for a table entry (a prefix gets a suffix). */
const example = (name: string) => {
  if (!name.endsWith('*')) return name;
  const prefix = name.slice(0, -1);
  return prefix.endsWith('-') ? `${prefix}example` : `${prefix}-example`;
};

/** Every exact header name that needs the route's opt-in: S3's own, and the table's. */
const OPT_IN = [
  ...new Set([
    ...[...S3_HEADERS.keys()].filter(h => !h.endsWith('*') && requestHeaderForwarding(h) === 'opt-in'),
    ...Object.keys(REQUEST_HEADERS).filter(h => REQUEST_HEADERS[h][0] === 'opt-in').map(example),
  ]),
].sort();

describe('the request header table', () => {
  it('knows S3 request headers (the model is there)', () => {
    expect(S3_HEADERS.get('x-amz-acl')).toContain('PutObject');
    expect(S3_HEADERS.size).toBeGreaterThan(80);
  });

  it('classifies every x-amz-* request header of S3 explicitly, not by the x-amz-* fallback', () => {
    const entries = Object.keys(REQUEST_HEADERS);
    const covered = (header: string) =>
      entries.some(entry =>
        entry.endsWith('*')
          ? header.startsWith(entry.slice(0, -1))
          : entry === header,
      );
    const unclassified = [...S3_HEADERS.keys()].filter(
      h => h.startsWith('x-amz-') && !covered(h.replace(/\*$/, '')),
    );
    expect(unclassified).toEqual([]);
  });

  it.each([
    // The list, and what the S3 API reference shows can widen access, weaken
    // retention or bill another party.
    'x-amz-acl',
    'x-amz-grant-read',
    'x-amz-grant-full-control',
    'x-amz-grant-write',
    'x-amz-grant-read-acp',
    'x-amz-grant-write-acp',
    'x-amz-object-lock-mode',
    'x-amz-object-lock-retain-until-date',
    'x-amz-object-lock-legal-hold',
    'x-amz-bypass-governance-retention',
    'x-amz-server-side-encryption',
    'x-amz-server-side-encryption-aws-kms-key-id',
    'x-amz-server-side-encryption-context',
    'x-amz-request-payer',
    'x-amz-tagging',
    'x-amz-object-ownership',
    'x-amz-confirm-remove-self-bucket-access',
    'x-amz-website-redirect-location',
    'x-amz-copy-source',
    'x-amz-copy-source-range',
    'x-amz-mfa',
  ])('%s needs the route to opt in', name => {
    expect(requestHeaderForwarding(name)).toBe('opt-in');
    expect(OPT_IN).toContain(name);
  });

  it.each([
    ['x-amz-meta-owner', 'default'],
    ['x-amz-checksum-sha256', 'default'],
    ['x-amz-server-side-encryption-customer-key', 'default'],
    ['x-amz-copy-source-server-side-encryption-customer-key', 'opt-in'],
    ['x-amz-expected-bucket-owner', 'default'],
    ['x-amz-storage-class', 'default'],
    ['x-amz-target', 'default'],
    ['x-amzn-bedrock-trace', 'default'],
    ['content-type', 'default'],
    ['x-custom-header', 'opt-in'],
    ['x-amz-security-token', 'never'],
    ['x-amz-trailer', 'never'],
    ['x-amz-decoded-content-length', 'never'],
    ['proxy-authorization', 'never'],
    ['x-forwarded-for', 'never'],
    ['sec-fetch-site', 'never'],
  ])('%s is %s', (name, forwarding) => {
    expect(requestHeaderForwarding(name)).toBe(forwarding);
  });

  it('gives a reason for every entry', () => {
    for (const [name, [, why]] of Object.entries(REQUEST_HEADERS)) {
      expect([name, why.length > 5]).toEqual([name, true]);
    }
  });
});

describe('filterRequestHeaders', () => {
  it('needs an opt-in for what widens access or what the caller gets back, beyond S3 too', () => {
    expect(OPT_IN).toEqual(
      expect.arrayContaining(['x-amz-acl', 'x-amz-request-payer', 'x-amz-log-type', 'x-amz-client-context']),
    );
  });

  it.each(OPT_IN)('drops %s by default and forwards it when the route opts in', name => {
    const incoming = { [name]: 'value', 'x-amz-meta-a': '1' };
    expect(filterRequestHeaders(incoming, new Set())).toEqual({ 'x-amz-meta-a': '1' });
    expect(filterRequestHeaders(incoming, new Set([name]))).toEqual(incoming);
  });

  it.each([
    ['close, x-amz-meta-a', ['range', 'x-amz-meta-b', 'x-team']],
    ['X-Amz-Meta-A', ['range', 'x-amz-meta-b', 'x-team']],
    ['keep-alive,x-amz-meta-a , Range', ['x-amz-meta-b', 'x-team']],
    ['close,, x-amz-meta-b,', ['range', 'x-amz-meta-a', 'x-team']],
    ['close', ['range', 'x-amz-meta-a', 'x-amz-meta-b', 'x-team']],
  ])('Connection: %s forwards only %j', (connection, kept) => {
    const incoming = {
      connection,
      'x-amz-meta-a': '1',
      'x-amz-meta-b': '2',
      range: 'bytes=0-1',
      'x-team': 't',
    };
    const out = filterRequestHeaders(incoming, new Set(['x-team']));
    expect(Object.keys(out).sort()).toEqual(kept);
  });

  it('a Connection-named header is dropped even when the route opts in to it', () => {
    const out = filterRequestHeaders({ connection: 'x-team', 'x-team': 't' }, new Set(['x-team']));
    expect(out).toEqual({});
  });

  it(`forwards ${MAX_FORWARDED_HEADERS} headers and refuses one more with a 431`, () => {
    const many = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-amz-meta-h${i}`, 'v']));
    expect(Object.keys(filterRequestHeaders(many(MAX_FORWARDED_HEADERS), new Set()))).toHaveLength(
      MAX_FORWARDED_HEADERS,
    );
    const error = catchError(() => filterRequestHeaders(many(MAX_FORWARDED_HEADERS + 1), new Set()));
    expect(statusOf(error)).toBe(431);
    expect(error.message).toMatch(/Too many request headers to forward \(101\); at most 100/);
    // Headers that are not forwarded do not count.
    const dropped = { ...many(MAX_FORWARDED_HEADERS), 'x-not-allowed': 'v', cookie: 'c' };
    expect(() => filterRequestHeaders(dropped, new Set())).not.toThrow();
  });

  it(`forwards ${MAX_FORWARDED_HEADER_BYTES} bytes of headers and refuses one more with a 431`, () => {
    const name = 'x-amz-meta-big';
    const fits = { [name]: 'v'.repeat(MAX_FORWARDED_HEADER_BYTES - name.length) };
    expect(filterRequestHeaders(fits, new Set())).toEqual(fits);
    const error = catchError(() =>
      filterRequestHeaders({ [name]: `${fits[name]}v` }, new Set()),
    );
    expect(statusOf(error)).toBe(431);
    expect(error.message).toMatch(/Request headers too large to forward \(8193 bytes/);
  });
});

function catchError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('did not throw');
}

describe('through the proxy, signed and checked by aws4', () => {
  let upstream: VerifyingUpstream;
  let proxy: RunningProxy;

  beforeAll(async () => {
    upstream = await startVerifyingUpstream({ [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS });
    const s3 = { service: 's3', region: 'us-east-1' };
    proxy = await startProxy({
      '/plain': { target: `${upstream.url}/bucket`, ...s3 },
      '/optin': { target: `${upstream.url}/bucket`, ...s3, allowedHeaders: OPT_IN },
    });
  });

  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
  });

  beforeEach(() => {
    upstream.received.length = 0;
  });

  it.each(OPT_IN)('%s: dropped by default, forwarded and signed with opt-in', async name => {
    const send = (route: string) =>
      request(proxy.server)
        .put(`/api/proxy-sigv4/${route}/key`)
        .set('authorization', USER)
        .set(name, 'opted-in-value')
        .send('body');
    expect((await send('plain')).status).toBe(200);
    expect((await send('optin')).status).toBe(200);
    const [plain, optin] = upstream.received;
    expect(plain.signatureError).toBeUndefined();
    expect(plain.headers[name]).toBeUndefined();
    expect(optin.signatureError).toBeUndefined();
    expect(optin.headers[name]).toBe('opted-in-value');
    expect(optin.signedHeaders).toContain(name);
  });

  it('drops what a raw Connection header names, and signs the rest', async () => {
    const res = await request(proxy.server)
      .get('/api/proxy-sigv4/plain/key')
      .set('authorization', USER)
      .set('connection', 'x-amz-meta-a')
      .set('x-amz-meta-a', '1')
      .set('x-amz-meta-b', '2');
    expect(res.status).toBe(200);
    const [received] = upstream.received;
    expect(received.signatureError).toBeUndefined();
    expect(received.headers['x-amz-meta-a']).toBeUndefined();
    expect(received.headers['x-amz-meta-b']).toBe('2');
  });
});

/*
 * The signer's query trap: `@smithy/signature-v4` copies the query with a spread inside
 * `reduce` (quadratic in distinct keys) and joins a key's values with `concat` inside
 * `reduce` (quadratic in values). RouteSigner hands smithy no query and puts the canonical
 * query string into the canonical request itself (CanonicalQuerySignatureV4). These tests
 * check that the result is the signature smithy itself computes, that aws4 accepts it, and
 * that smithy never gets to copy the caller's query.
 */
import fc from 'fast-check';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { CanonicalQuerySignatureV4, RouteSigner, SigningScope } from './signRequest';
import { canonicalQuery } from '../endpoint/canonical';
import { verifySignature } from '../../localAws';
import { TEST_CREDENTIALS } from '../__testUtils__/startProxy';

const HOST = 'abc.execute-api.eu-west-1.amazonaws.com';
const SECRETS = { [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS };
const SCOPES: [string, SigningScope][] = [
  ['execute-api', { service: 'execute-api', region: 'eu-west-1', s3: false }],
  ['s3', { service: 's3', region: 'us-east-1', s3: true }],
];

function routeSigner(scope: SigningScope) {
  return new RouteSigner(scope, async () => TEST_CREDENTIALS);
}

/** What smithy signs when handed the query itself (its own, quadratic, path), at the same instant. */
async function smithyAuthorization(
  scope: SigningScope,
  query: Record<string, string | string[]>,
  amzDate: string,
): Promise<string> {
  const signer = new SignatureV4({
    service: scope.service,
    region: scope.region,
    credentials: TEST_CREDENTIALS,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: !scope.s3,
    applyChecksum: scope.s3,
  });
  const signingDate = new Date(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  const signed = await signer.sign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname: HOST,
      path: '/prod/items',
      query,
      headers: {
        host: HOST,
        'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      },
    },
    {
      signingDate,
      ...(scope.s3 ? {} : { unsignableHeaders: new Set(['x-amz-content-sha256']) }),
    },
  );
  return signed.headers.authorization as string;
}

/** Raw query strings as a browser or curl might send them: repeated keys, `+`, escapes, non-ASCII. */
const rawQueries = fc
  .array(
    fc.tuple(
      fc.stringMatching(/^[A-Za-z0-9_.~!*'()-]{1,6}$/).filter(k => !/^(expires|signature)$/i.test(k)),
      fc.constantFrom('', '=', '=1', '=a+b', '=%2B', '=caf%C3%A9', "=it's", '=%E2%82%AC', '=x%20y', '=2'),
    ),
    { maxLength: 12 },
  )
  .map(pairs => pairs.map(([key, value]) => `${key}${value}`).join('&'));

describe.each(SCOPES)('RouteSigner (%s)', (_name, scope) => {
  it('signs what smithy signs when handed the query itself, and aws4 accepts it', async () => {
    await fc.assert(
      fc.asyncProperty(rawQueries, async raw => {
        const keys = raw.split('&').filter(Boolean).map(p => p.split('=')[0]);
        // A repeated key is refused on S3, which signs its first value only (endpoint/canonical).
        fc.pre(!scope.s3 || new Set(keys).size === keys.length);
        const { params, wire } = canonicalQuery(raw, scope.s3);
        const headers = await routeSigner(scope).sign({
          method: 'GET',
          protocol: 'https:',
          hostname: HOST,
          path: '/prod/items',
          query: params,
          headers: { host: HOST },
        });
        expect(headers.authorization).toBe(
          await smithyAuthorization(scope, params, headers['x-amz-date']),
        );
        const check = verifySignature(
          { method: 'GET', url: wire ? `/prod/items?${wire}` : '/prod/items', headers },
          Buffer.alloc(0),
          SECRETS,
        );
        expect(check.error).toBeUndefined();
      }),
      { seed: 13, numRuns: 150 },
    );
  });
});

describe('the query trap', () => {
  it("never lets smithy copy the caller's query (its HttpRequest.clone is the quadratic part)", async () => {
    // The query as a proxy that counts how often its keys are listed: once, by
    // formatCanonicalQuery; smithy's clone would list them again (and then copy its
    // accumulator once per key).
    const target: Record<string, string | string[]> = {};
    for (let i = 0; i < 500; i++) target[`k${i}`] = ['b', 'a'];
    let listed = 0;
    const query = new Proxy(target, {
      ownKeys(t) {
        listed++;
        return Reflect.ownKeys(t);
      },
    });
    const headers = await routeSigner(SCOPES[0][1]).sign({
      method: 'GET',
      protocol: 'https:',
      hostname: HOST,
      path: '/prod/items',
      query,
      headers: { host: HOST },
    });
    expect(listed).toBe(1);
    expect(headers.authorization).toBe(
      await smithyAuthorization(SCOPES[0][1], target, headers['x-amz-date']),
    );
  });

  it.each([
    ['1,000 distinct keys (the most the router forwards)', () => Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, `v${i}`]))],
    ['one key with 1,000 values', () => ({ a: Array.from({ length: 1000 }, (_, i) => `v${i}`) })],
  ])('signs a query of %s as smithy does', async (_name, make) => {
    const query = make();
    const headers = await routeSigner(SCOPES[0][1]).sign({
      method: 'GET',
      protocol: 'https:',
      hostname: HOST,
      path: '/prod/items',
      query,
      headers: { host: HOST },
    });
    expect(headers.authorization).toBe(
      await smithyAuthorization(SCOPES[0][1], query, headers['x-amz-date']),
    );
  });

  // The one timed assertion here, with a margin of about 50: smithy's own path takes about
  // 20 s for 8,000 distinct keys on this machine (7 s for 5,000), this signer milliseconds.
  // (aws4 parses at most 1,000 query parameters, so the result is checked against smithy
  // at that size, above.)
  it.each([
    ['8,000 distinct keys', () => Object.fromEntries(Array.from({ length: 8000 }, (_, i) => [`k${i}`, 'v']))],
    ['one key with 50,000 values', () => ({ a: Array.from({ length: 50_000 }, (_, i) => `v${i}`) })],
  ])('signs a query of %s in linear time', async (_name, make) => {
    const query = make();
    const started = process.hrtime.bigint();
    const headers = await routeSigner(SCOPES[0][1]).sign({
      method: 'GET',
      protocol: 'https:',
      hostname: HOST,
      path: '/prod/items',
      query,
      headers: { host: HOST },
    });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(ms).toBeLessThan(2000);
    expect(headers.authorization).toMatch(/Signature=[0-9a-f]{64}$/);
  }, 60_000);

  it('refuses to sign when smithy built a query line of its own (a signer that changed)', async () => {
    const signer = new CanonicalQuerySignatureV4(
      {
        service: 'execute-api',
        region: 'eu-west-1',
        credentials: TEST_CREDENTIALS,
        sha256: Hash.bind(null, 'sha256'),
      },
      'a=1',
    );
    await expect(
      signer.sign({
        method: 'GET',
        protocol: 'https:',
        hostname: HOST,
        path: '/prod/items',
        query: { b: '2' },
        headers: { host: HOST },
      }),
    ).rejects.toThrow(/unexpected canonical request/);
  });
});

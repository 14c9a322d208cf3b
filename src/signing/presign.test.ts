/*
 * Presigned URLs, checked by aws4 (a second implementation): aws4 recomputes each URL's
 * signature from the URL itself (its own parsing of path and query, its own canonical form),
 * with the date and lifetime the URL carries.
 */
import aws4 from 'aws4';
import fc from 'fast-check';
import { canonicalPath, formatCanonicalQuery } from '../endpoint/canonical';
import { fcParameters } from '../__testUtils__/fcSettings';
import { MAX_PRESIGN_SECONDS, presignRequest, RequestToPresign } from './presign';

const CREDS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const TEMPORARY = { ...CREDS, sessionToken: 'FwoGZXIvYXdzE/session+token==' };
const scope = { service: 's3', region: 'eu-west-1' };
const NOW = Date.UTC(2026, 11, 2, 15, 30, 12, 700);

/** The signature aws4 computes for a presigned URL as it stands (its own signature removed). */
function aws4Signature(url: string, method: string, headers: Record<string, string>, creds: typeof TEMPORARY | typeof CREDS) {
  const u = new URL(url);
  const params = new URLSearchParams(u.search);
  const claimed = params.get('X-Amz-Signature');
  // The query as sent, less the signature: aws4 parses it itself.
  const rest = u.search.slice(1).split('&').filter(p => !p.startsWith('X-Amz-Signature=')).join('&');
  const signed = aws4.sign(
    {
      host: u.host,
      method,
      path: `${u.pathname}?${rest}`,
      service: 's3',
      region: 'eu-west-1',
      signQuery: true,
      headers,
      doNotEncodePath: true,
    } as any,
    creds,
  ) as { path: string };
  const expected = new URLSearchParams(signed.path.split('?')[1]).get('X-Amz-Signature');
  return { claimed, expected };
}

function request(overrides: Partial<RequestToPresign> = {}): RequestToPresign {
  return {
    method: 'GET',
    protocol: 'https:',
    host: 'reports.s3.eu-west-1.amazonaws.com',
    path: '/2026/q3.pdf',
    query: {},
    headers: {},
    ...overrides,
  };
}

describe('presignRequest', () => {
  it('makes a URL whose signature aws4 computes alike, with the token, date and lifetime in the URL', async () => {
    const p = await presignRequest(scope, async () => TEMPORARY, request({ query: { versionId: 'v 1+2' } }), 120, NOW);
    const url = new URL(p.url);
    expect(url.origin).toBe('https://reports.s3.eu-west-1.amazonaws.com');
    expect(url.pathname).toBe('/2026/q3.pdf');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261202T153012Z');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('120');
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe(TEMPORARY.sessionToken);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host');
    expect(url.searchParams.get('versionId')).toBe('v 1+2');
    // Neither the payload hash nor anything else is moved into the URL.
    expect([...url.searchParams.keys()].sort()).toEqual([
      'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires',
      'X-Amz-Security-Token', 'X-Amz-Signature', 'X-Amz-SignedHeaders', 'versionId',
    ]);
    expect(p.expiresAt.toISOString()).toBe('2026-12-02T15:32:12.000Z');
    const { claimed, expected } = aws4Signature(p.url, 'GET', {}, TEMPORARY);
    expect(claimed).toMatch(/^[0-9a-f]{64}$/);
    expect(claimed).toBe(expected);
  });

  it('signs the headers a PUT must carry, keeps them out of the URL, and names them', async () => {
    const headers = { 'content-type': 'application/pdf', 'x-amz-server-side-encryption': 'aws:kms' };
    const p = await presignRequest(scope, async () => CREDS, request({ method: 'PUT', headers }), 300, NOW);
    const url = new URL(p.url);
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('content-type;host;x-amz-server-side-encryption');
    expect(url.searchParams.has('x-amz-server-side-encryption')).toBe(false);
    expect(url.searchParams.has('X-Amz-Security-Token')).toBe(false);
    expect(p.headers).toEqual(headers);
    const { claimed, expected } = aws4Signature(p.url, 'PUT', headers, CREDS);
    expect(claimed).toBe(expected);
    // The method is signed: the URL does not work for another one.
    expect(aws4Signature(p.url, 'DELETE', headers, CREDS).expected).not.toBe(claimed);
  });

  it('never lasts past the credentials, nor past AWS\'s 7 days', async () => {
    const expiring = { ...TEMPORARY, expiration: new Date(NOW + 90_500) };
    const short = await presignRequest(scope, async () => expiring, request(), 300, NOW);
    // Counted from X-Amz-Date's whole second (15:30:12): 91 s, to 15:31:43, before 15:31:43.2.
    expect(short.expiresIn).toBe(91);
    expect(short.expiresAt.getTime()).toBeLessThanOrEqual(expiring.expiration.getTime());
    expect(new URL(short.url).searchParams.get('X-Amz-Expires')).toBe(String(short.expiresIn));
    const long = await presignRequest(scope, async () => CREDS, request(), 10 * MAX_PRESIGN_SECONDS, NOW);
    expect(long.expiresIn).toBe(MAX_PRESIGN_SECONDS);
    await expect(
      presignRequest(scope, async () => ({ ...TEMPORARY, expiration: new Date(NOW + 200) }), request(), 300, NOW),
    ).rejects.toThrow(/expire now/);
  });

  it('gives URLs aws4 agrees with for generated paths and queries', async () => {
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(text, { minLength: 1, maxLength: 4 }),
        // One value per key: S3 reads only a repeated key's first (the proxy refuses repeats).
        fc.dictionary(text.filter(k => k !== '' && !/^x-amz-/i.test(k)), text, { maxKeys: 5 }),
        fc.constantFrom('GET', 'HEAD', 'PUT', 'DELETE'),
        async (segments, query, method) => {
          const raw = `/${segments.map(s => encodeURIComponent(s.replace(/^\.\.?$/, 'dot'))).join('/')}`;
          let path: string;
          try {
            path = canonicalPath(raw, true);
          } catch {
            return; // a path the proxy refuses (lone surrogates): nothing to presign
          }
          const p = await presignRequest(scope, async () => TEMPORARY, request({ method, path, query }), 60, NOW);
          expect(p.url.startsWith(`https://reports.s3.eu-west-1.amazonaws.com${path}?`)).toBe(true);
          const ours = p.url.slice(p.url.indexOf('?') + 1).split('&').filter(x => !/^X-Amz-/.test(x)).join('&');
          expect(ours).toBe(formatCanonicalQuery(query));
          const { claimed, expected } = aws4Signature(p.url, method, {}, TEMPORARY);
          expect(claimed).toBe(expected);
        },
      ),
      fcParameters(200),
    );
  });
});

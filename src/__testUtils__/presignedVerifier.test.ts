/*
 * The presigned-URL verifier of localAws (presignedVerifier) accepts URLs made by two signers, aws4 (its own implementation)
 * and @smithy/signature-v4's presign (the AWS SDK's, so that acceptance is not
 * self-agreement), and refuses them once tampered with, expired, or signed by credentials
 * it does not accept.
 */
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import aws4 from 'aws4';
import { AcceptedCredentials, verifyPresigned } from '../../localAws';

const HOST = 'reports.s3.eu-west-1.amazonaws.com';
const LONG = { accessKeyId: 'AKIDPRESIGN', secretAccessKey: 'presign/secret+key' };
const TEMPORARY = {
  accessKeyId: 'ASIATEMPORARY',
  secretAccessKey: 'temporary-secret',
  sessionToken: 'token/with+chars=',
};
const NOW = Date.parse('2026-03-10T12:00:00Z');
const SECRETS: AcceptedCredentials = {
  [LONG.accessKeyId]: LONG,
  [TEMPORARY.accessKeyId]: { ...TEMPORARY, expiresAt: NOW + 3600_000 },
};

function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[:-]|\.\d{3}/g, '');
}

/** A URL presigned by aws4 (query signing), as path and query. */
function aws4Url(
  method: string,
  path: string,
  options: { expires?: number; signedAt?: number; credentials?: typeof LONG | typeof TEMPORARY } = {},
): string {
  const query = `X-Amz-Date=${amzDate(options.signedAt ?? NOW)}&X-Amz-Expires=${options.expires ?? 300}`;
  const signed = aws4.sign(
    {
      method,
      host: HOST,
      path: `${path}${path.includes('?') ? '&' : '?'}${query}`,
      service: 's3',
      region: 'eu-west-1',
      signQuery: true,
    },
    options.credentials ?? LONG,
  );
  return signed.path!;
}

/** A URL presigned by @smithy/signature-v4, as the S3 presigner asks for it (UNSIGNED-PAYLOAD, hoisted to the query). */
async function smithyUrl(
  method: string,
  path: string,
  options: {
    query?: Record<string, string>;
    headers?: Record<string, string>;
    expiresIn?: number;
    signedAt?: number;
    credentials?: typeof LONG | typeof TEMPORARY;
  } = {},
): Promise<string> {
  const signer = new SignatureV4({
    service: 's3',
    region: 'eu-west-1',
    credentials: options.credentials ?? LONG,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false,
  });
  const presigned = await signer.presign(
    {
      method,
      protocol: 'https:',
      hostname: HOST,
      path,
      query: options.query ?? {},
      headers: { host: HOST, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...options.headers },
    },
    {
      expiresIn: options.expiresIn ?? 300,
      signingDate: new Date(options.signedAt ?? NOW),
    },
  );
  const query = Object.entries(presigned.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return `${presigned.path}?${query}`;
}

function check(method: string, url: string, headers: Record<string, string> = {}, now = NOW) {
  return verifyPresigned({ method, url, headers: { host: HOST, ...headers } }, SECRETS, now);
}

describe('verifyPresigned', () => {
  it('accepts URLs aws4 presigns, with and without a session token', () => {
    expect(check('GET', aws4Url('GET', '/2026/q3.pdf')).error).toBeUndefined();
    const temporary = aws4Url('PUT', '/2026/q3 report.pdf?versionId=abc', { credentials: TEMPORARY });
    expect(temporary).toContain('X-Amz-Security-Token=');
    expect(check('PUT', temporary).error).toBeUndefined();
    expect(check('PUT', temporary)).toMatchObject({
      service: 's3',
      region: 'eu-west-1',
      signedHeaders: ['host'],
      expiresAt: NOW + 300_000,
    });
  });

  it('accepts URLs the AWS SDK signer presigns (not aws4 agreeing with itself)', async () => {
    const plain = await smithyUrl('GET', '/2026/q3%20report%C3%A9.pdf', {
      query: { versionId: 'v1', 'response-content-disposition': 'attachment; filename="q3.pdf"' },
    });
    expect(plain).toContain('x-amz-content-sha256=UNSIGNED-PAYLOAD');
    expect(check('GET', plain)).toEqual(expect.not.objectContaining({ error: expect.anything() }));
    expect(check('GET', plain).signedHeaders).toEqual(['host']);
    const temporary = await smithyUrl('HEAD', '/2026/q3.pdf', { credentials: TEMPORARY });
    expect(check('HEAD', temporary).error).toBeUndefined();
    // A PUT whose Content-Type is signed: the caller must send it as signed.
    const put = await smithyUrl('PUT', '/upload.bin', { headers: { 'content-type': 'application/pdf' } });
    expect(check('PUT', put, { 'content-type': 'application/pdf' }).error).toBeUndefined();
    expect(check('PUT', put, { 'content-type': 'application/pdf' }).signedHeaders).toEqual(['content-type', 'host']);
    expect(check('PUT', put).error).toBe('signed header content-type did not arrive');
    expect(check('PUT', put, { 'content-type': 'text/html' }).code).toBe('SignatureDoesNotMatch');
  });

  it('accepts a URL signed days ago that has not expired (the key is of the signing date)', async () => {
    const signedAt = NOW - 3 * 86_400_000;
    const url = await smithyUrl('GET', '/old.txt', { expiresIn: 604_800, signedAt });
    expect(check('GET', url).error).toBeUndefined();
    expect(check('GET', aws4Url('GET', '/old.txt', { expires: 604_800, signedAt })).error).toBeUndefined();
  });

  it('refuses an expired URL as S3 does', async () => {
    const url = await smithyUrl('GET', '/2026/q3.pdf', { expiresIn: 60 });
    expect(check('GET', url, {}, NOW + 59_000).error).toBeUndefined();
    expect(check('GET', url, {}, NOW + 60_000)).toMatchObject({
      error: 'Request has expired',
      code: 'AccessDenied',
    });
  });

  it('refuses a URL whose temporary credentials have expired, or whose token is wrong', () => {
    const url = aws4Url('GET', '/a', { credentials: TEMPORARY, expires: 7200 });
    expect(check('GET', url, {}, NOW + 3600_000).code).toBe('ExpiredToken');
    expect(check('GET', url.replace(/X-Amz-Security-Token=[^&]+/, 'X-Amz-Security-Token=other')).code).toBe(
      'InvalidToken',
    );
    expect(check('GET', url.replace(/&?X-Amz-Security-Token=[^&]+/, '')).code).toBe('InvalidToken');
  });

  it('refuses tampered paths, queries, methods and expiries', async () => {
    const url = await smithyUrl('GET', '/2026/q3.pdf', { query: { versionId: 'v1' } });
    expect(check('GET', url).error).toBeUndefined();
    const tampered = [
      url.replace('/2026/q3.pdf', '/2026/q4.pdf'),
      url.replace('versionId=v1', 'versionId=v2'),
      url.replace('versionId=v1', 'versionId=v1&response-content-type=text%2Fhtml'),
      url.replace('X-Amz-Expires=300', 'X-Amz-Expires=3000'),
      url.replace(/X-Amz-Date=\d{8}T\d{4}/, m => m.slice(0, -1) + (Number(m.slice(-1)) + 1) % 10),
    ];
    for (const t of tampered) {
      expect(t).not.toBe(url);
      expect(check('GET', t)).toMatchObject({ code: 'SignatureDoesNotMatch' });
    }
    expect(check('PUT', url).code).toBe('SignatureDoesNotMatch');
    expect(verifyPresigned({ method: 'GET', url, headers: { host: 'other.example' } }, SECRETS, NOW).code).toBe(
      'SignatureDoesNotMatch',
    );
  });

  it('refuses malformed or missing parameters and unknown keys', async () => {
    const url = await smithyUrl('GET', '/a');
    const cases: [string, string][] = [
      [url.replace(/&?X-Amz-Signature=[0-9a-f]+/, ''), 'AuthorizationQueryParametersError'],
      [url.replace('X-Amz-Expires=300', 'X-Amz-Expires=0'), 'AuthorizationQueryParametersError'],
      [url.replace('X-Amz-Expires=300', 'X-Amz-Expires=604801'), 'AuthorizationQueryParametersError'],
      [url.replace('X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Algorithm=AWS4-HMAC-SHA1'), 'AuthorizationQueryParametersError'],
      [url.replace('AKIDPRESIGN', 'AKIDUNKNOWN'), 'InvalidAccessKeyId'],
      [url.replace('X-Amz-SignedHeaders=host', 'X-Amz-SignedHeaders=x-amz-date'), 'AuthorizationQueryParametersError'],
      [`${url}&X-Amz-Date=20260310T120000Z`, 'AuthorizationQueryParametersError'],
    ];
    for (const [bad, code] of cases) {
      expect(bad).not.toBe(url);
      expect(check('GET', bad).code).toBe(code);
    }
    expect(check('GET', url, { authorization: 'AWS4-HMAC-SHA256 ...' }).code).toBe('InvalidArgument');
    expect(check('GET', url.replace('UNSIGNED-PAYLOAD', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')).code).toBe(
      'InvalidArgument',
    );
  });

  it('refuses a URL dated well in the future', async () => {
    const url = await smithyUrl('GET', '/a', { signedAt: NOW + 3600_000 });
    expect(check('GET', url)).toMatchObject({ code: 'AccessDenied' });
  });
});

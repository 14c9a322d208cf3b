/*
 * Presigned URLs through a real backend: asked for with POST /_presign or followed through
 * GET /_presign/<route>/..., then used straight against an S3 emulator whose front checks
 * every presigned URL with aws4 (localAws/presignedVerifier) before the emulator serves it.
 */
import http from 'node:http';
import { mockCredentials } from '@backstage/backend-test-utils';
import { S3RVER_CREDENTIALS, startVerifyingS3, VerifyingS3 } from '../../localAws';
import { RunningProxy, startProxy, USER } from '../__testUtils__/startProxy';
import { capturingLogger } from '../__testUtils__/capturingLogger';
import { recordingPolicy, userToken } from '../__testUtils__/recordingPolicy';

const P = '/api/proxy-sigv4';
const s3Route = (s3: VerifyingS3, path = '') => ({
  target: `${s3.url}/test-bucket${path}`,
  service: 's3',
  region: 'us-east-1',
});

let s3: VerifyingS3;
let proxy: RunningProxy;
const logs = capturingLogger();
// Alice may read /perm but not write it.
const policy = recordingPolicy((user, _name, action) => user === 'user:default/alice' && action === 'read');

beforeAll(async () => {
  s3 = await startVerifyingS3(['test-bucket'], {
    seed: { 'test-bucket/reports/q3.txt': 'third quarter', 'test-bucket/private/secret.txt': 'private' },
  });
  proxy = await startProxy(
    {
      '/bucket': {
        ...s3Route(s3),
        credentials: 'user-cookie',
        presign: { methods: ['GET', 'HEAD', 'PUT'], maxExpiresIn: 600 },
      },
      // A longer route over part of the same bucket, with its own policy.
      '/bucket/private': { ...s3Route(s3, '/private'), permission: 'proxy-sigv4.private.use', presign: true },
      '/plain': s3Route(s3),
      '/perm': { ...s3Route(s3), permission: 'proxy-sigv4.perm.use', presign: { methods: ['GET', 'PUT'] } },
    },
    { aws: { mainAccount: S3RVER_CREDENTIALS }, permission: { enabled: true } },
    { logger: logs.factory, features: policy.features },
  );
});
afterAll(async () => {
  await proxy.stop();
  await s3.close();
});
beforeEach(() => {
  logs.entries.length = 0;
  policy.decisions.length = 0;
});

/** Sends a request straight to a URL (no proxy): what a browser does with a presigned URL. */
function direct(method: string, url: string, headers: Record<string, string> = {}, body?: string) {
  return new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
    const req = http.request(url, { method, headers }, res => {
      const chunks: Buffer[] = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const presign = (body: unknown, authorization = USER) =>
  proxy.http().post(`${P}/_presign`).set('authorization', authorization).send(body as object);

describe('POST /_presign', () => {
  it('answers a URL that S3 accepts for the object, with the method, expiry and no caching', async () => {
    const before = Date.now();
    const res = await presign({ route: '/bucket', path: '/reports/q3.txt', expiresIn: 120 });
    expect(res.status).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.body).toEqual({ url: expect.any(String), method: 'GET', expiresAt: expect.any(String), headers: {} });
    const url = new URL(res.body.url);
    expect(`${url.origin}${url.pathname}`).toBe(`${s3.url}/test-bucket/reports/q3.txt`);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('120');
    const expiresAt = Date.parse(res.body.expiresAt);
    expect(expiresAt).toBeGreaterThan(before + 118_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 120_000);

    const got = await direct('GET', res.body.url);
    expect(got).toMatchObject({ status: 200, body: 'third quarter' });
    expect(s3.presigned.at(-1)).toMatchObject({ method: 'GET' });
    // The URL is for GET only: the same URL does not delete.
    expect((await direct('DELETE', res.body.url)).status).toBe(403);
    expect(s3.rejected.at(-1)).toMatch(/SignatureDoesNotMatch/);
  });

  it('presigns a PUT with the headers it must carry; the upload lands and reads back through the proxy', async () => {
    const res = await presign({
      route: '/bucket',
      path: '/uploads/new%20file.txt',
      method: 'put',
      headers: { 'Content-Type': 'text/plain', 'Content-Length': '5' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ method: 'PUT', headers: { 'content-type': 'text/plain', 'content-length': '5' } });
    expect(new URL(res.body.url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;content-type;host');
    expect(new URL(res.body.url).searchParams.get('X-Amz-Expires')).toBe('600');
    // Without the signed header S3 refuses it; with it, it is stored.
    expect((await direct('PUT', res.body.url, { 'content-type': 'text/html' }, 'x')).status).toBe(403);
    // Nor with more bytes than it was signed for.
    expect((await direct('PUT', res.body.url, { ...res.body.headers, 'content-length': '6' }, 'hello!')).status).toBe(403);
    const put = await direct('PUT', res.body.url, res.body.headers, 'hello');
    expect(put.status).toBe(200);
    const back = await proxy.http().get(`${P}/bucket/uploads/new%20file.txt`).set('authorization', USER);
    expect(back.status).toBe(200);
    expect(back.text).toBe('hello');
  });

  it('audits who asked for what, until when; never the URL or its signature', async () => {
    const res = await presign({ route: '/bucket', path: '/reports/q3.txt', query: { versionId: 'null' }, expiresIn: 60 });
    expect(res.status).toBe(200);
    let final;
    for (let i = 0; i < 200 && !final; i++) {
      final = logs.entries.find(e => e.fields.isAuditEvent && e.fields.status === 'succeeded');
      if (!final) await new Promise(r => setTimeout(r, 10));
    }
    expect(final!.message).toBe('proxy-sigv4.presign');
    expect(final!.fields.meta).toMatchObject({
      route: '/bucket',
      caller: 'user:default/mock',
      presigned: { method: 'GET', path: '/test-bucket/reports/q3.txt', expiresAt: res.body.expiresAt },
    });
    const text = JSON.stringify(logs.entries);
    expect(text).not.toContain(new URL(res.body.url).searchParams.get('X-Amz-Signature'));
    expect(text).not.toContain(S3RVER_CREDENTIALS.secretAccessKey);
  });

  it.each([
    [{ route: '/plain', path: '/reports/q3.txt' }, 403, /does not hand out presigned URLs/],
    [{ route: '/bucket', path: '/reports/q3.txt', method: 'DELETE' }, 403, /presigns GET, HEAD, PUT, not DELETE/],
    [{ route: '/bucket', path: '/x', expiresIn: 601 }, 400, /at most 600 seconds/],
    [{ route: '/bucket', path: '/x', expiresIn: 0 }, 400, /at least 1/],
    [{ route: '/bucket', path: '/x', ttl: 5 }, 400, /Unknown field "ttl"/],
    [{ route: '/bucket', path: 'x' }, 400, /path must be a string starting with/],
    [{ route: '/bucket', path: '/x?acl' }, 400, /give query parameters in query/],
    [{ route: '/bucket', path: '/a/../../etc' }, 400, /dot segment/i],
    // A presigned PUT carries its length, within what the route accepts.
    [{ route: '/bucket', path: '/x', method: 'PUT' }, 400, /needs headers\["content-length"\]/],
    [{ route: '/bucket', path: '/x', method: 'PUT', headers: { 'content-length': '-1' } }, 400, /needs headers\["content-length"\]/],
    [{ route: '/bucket', path: '/x', method: 'PUT', headers: { 'content-length': String(5 * 1024 ** 3 + 1) } }, 413, /larger than route \/bucket accepts \(5368709120 bytes\)/],
    [{ route: '/bucket', path: '/x', query: { 'X-Amz-Signature': 'f00' } }, 400, /reserved for SigV4/],
    [{ route: '/bucket', path: '/x', query: { 'x-id': ['a', 'b'] } }, 400, /object of string values/],
    // S3 applies x-amz-* query parameters as headers: they would pass around the header rules.
    [{ route: '/bucket', path: '/x', method: 'PUT', query: { 'x-amz-acl': 'public-read' } }, 400, /S3 reads x-amz-\* parameters as headers/],
    [{ route: '/bucket', path: '/x', method: 'PUT', query: { 'X-Amz-Copy-Source': 'test-bucket/private/secret.txt' } }, 400, /as headers/],
    [{ route: '/bucket', path: '/x', method: 'PUT', headers: { 'x-amz-grant-full-control': 'id=1' } }, 400, /not forwarded on route \/bucket/],
    [{ route: '/bucket', path: '/x', headers: { authorization: 'AWS4-HMAC-SHA256 x' } }, 400, /not forwarded/],
    [{ route: '/bucket', path: '/x', headers: { 'Content-Type': 'a', 'content-type': 'b' } }, 400, /content-type is given twice/],
    [{ route: '/bucket', path: '/x', headers: JSON.parse('{"__proto__": "x"}') }, 400, /__proto__ is not forwarded/],
    [{ route: '/bucket', path: '/x', headers: { 'content type': 'a' } }, 400, /"content type" is not a header name/],
    [{ route: '/bucket', path: '/x', headers: { 'content-type': 'a\r\nx-amz-acl: public-read' } }, 400, /content-type has a control character/],
    [{ route: '/nowhere', path: '/x' }, 404, /No proxysigv4 route/],
    // The longer route owns this path, and its permission: not presigned as /bucket's.
    [{ route: '/bucket', path: '/private/secret.txt' }, 400, /belongs to route \/bucket\/private/],
    [['an array'], 400, /must be a JSON object/],
  ])('refuses %j with %i', async (body, status, message) => {
    const res = await presign(body);
    expect(res.status).toBe(status);
    expect(res.body.error.message).toMatch(message);
    expect(res.body.url).toBeUndefined();
  });

  it('refuses a body that is not JSON, anonymous callers, the cookie, and other methods', async () => {
    const notJson = await proxy.http().post(`${P}/_presign`).set('authorization', USER).set('content-type', 'application/json').send('{"route":');
    expect(notJson.status).toBe(400);
    expect((await proxy.http().post(`${P}/_presign`).send({ route: '/bucket', path: '/x' })).status).toBe(401);
    const cookie = await proxy
      .http()
      .post(`${P}/_presign`)
      .set('cookie', mockCredentials.limitedUser.cookie('user:default/alice'))
      .send({ route: '/bucket', path: '/reports/q3.txt' });
    expect(cookie.status).toBe(401);
    const get = await proxy.http().get(`${P}/_presign`).set('authorization', USER);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
  });

  it("checks the route's permission with the action of the presigned method", async () => {
    const alice = userToken('user:default/alice');
    expect((await presign({ route: '/perm', path: '/reports/q3.txt' }, alice)).status).toBe(200);
    const put = await presign({ route: '/perm', path: '/reports/q3.txt', method: 'PUT' }, alice);
    expect(put.status).toBe(403);
    expect(policy.decisions.map(d => `${d.name} ${d.action} ${d.result}`)).toEqual([
      'proxy-sigv4.perm.use read ALLOW',
      'proxy-sigv4.perm.use update DENY',
    ]);
    // The longer route's permission is checked for its own paths.
    expect((await presign({ route: '/bucket/private', path: '/secret.txt' }, userToken('user:default/bob'))).status).toBe(403);
  });
});

describe('GET /_presign/<route>/<key>', () => {
  it('redirects (307) to a presigned GET that S3 serves, for a cookie in <img src>', async () => {
    const res = await proxy
      .http()
      .get(`${P}/_presign/bucket/reports/q3.txt`)
      .set('cookie', mockCredentials.limitedUser.cookie('user:default/alice'))
      .redirects(0);
    expect(res.status).toBe(307);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.text).toBe('');
    const location = res.headers.location;
    expect(location.startsWith(`${s3.url}/test-bucket/reports/q3.txt?`)).toBe(true);
    // A URL is a credential for as long as it lives: audited as medium, even for a GET.
    let record;
    for (let i = 0; i < 200 && !record; i++) {
      record = logs.entries.find(e => e.fields.isAuditEvent && e.fields.status === 'succeeded');
      if (!record) await new Promise(r => setTimeout(r, 10));
    }
    expect(record!.fields).toMatchObject({ eventId: 'presign', severityLevel: 'medium', meta: { caller: 'user:default/alice' } });
    expect(new URL(location).searchParams.get('X-Amz-Expires')).toBe('600');
    expect(await direct('GET', location)).toMatchObject({ status: 200, body: 'third quarter' });
  });

  it('keeps the query (response-content-disposition) in the signed URL', async () => {
    const res = await proxy
      .http()
      .get(`${P}/_presign/bucket/reports/q3.txt?response-content-disposition=attachment%3B%20filename%3Dq3.txt`)
      .set('authorization', USER)
      .redirects(0);
    expect(res.status).toBe(307);
    const got = await direct('GET', res.headers.location);
    expect(got.status).toBe(200);
    expect(got.headers['content-disposition']).toBe('attachment; filename=q3.txt');
  });

  it('refuses scripts, other methods, anonymous callers and routes without presign', async () => {
    const script = await proxy.http().get(`${P}/_presign/bucket/reports/q3.txt`).set('authorization', USER).set('sec-fetch-dest', 'script').redirects(0);
    expect(script.status).toBe(403);
    const head = await proxy.http().head(`${P}/_presign/bucket/reports/q3.txt`).set('authorization', USER).redirects(0);
    expect(head.status).toBe(405);
    expect((await proxy.http().get(`${P}/_presign/bucket/reports/q3.txt`).redirects(0)).status).toBe(401);
    expect((await proxy.http().get(`${P}/_presign/plain/reports/q3.txt`).set('authorization', USER).redirects(0)).status).toBe(403);
    const payer = await proxy.http().get(`${P}/_presign/bucket/reports/q3.txt?x-amz-request-payer=requester`).set('authorization', USER).redirects(0);
    expect(payer.status).toBe(400);
    expect(payer.headers.location).toBeUndefined();
    // The longer route's policy applies to its paths: Bob lacks its permission.
    expect((await proxy.http().get(`${P}/_presign/bucket/private/secret.txt`).set('authorization', userToken('user:default/bob')).redirects(0)).status).toBe(403);
  });
});

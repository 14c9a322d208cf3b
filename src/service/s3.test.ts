/*
 * Objects put into and read back from an S3 emulator through the proxy, every request's
 * signature checked in front of the emulator by a second implementation (aws4).
 */
import http from 'node:http';
import crypto from 'node:crypto';
import { S3RVER_CREDENTIALS, startVerifyingS3, VerifyingS3 } from '../../localAws';
import { RunningProxy, startProxy, USER } from '../__testUtils__/startProxy';

const P = '/api/proxy-sigv4';
let s3: VerifyingS3;
let proxy: RunningProxy;

beforeAll(async () => {
  s3 = await startVerifyingS3(['test-bucket']);
  proxy = await startProxy(
    {
      '/bucket': { target: `${s3.url}/test-bucket`, service: 's3', region: 'us-east-1' },
      '/bucket-stream': {
        target: `${s3.url}/test-bucket`,
        service: 's3',
        region: 'us-east-1',
        unsignedPayload: true,
      },
    },
    { aws: { mainAccount: S3RVER_CREDENTIALS } },
  );
});

afterAll(async () => {
  await proxy.stop();
  await s3.close();
});


function call(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: Number(new URL(proxy.baseUrl).port),
        method,
        path: `${P}${path}`,
        headers: {
          authorization: USER,
          ...(body ? { 'content-length': String(body.length) } : {}),
          ...headers,
        },
      },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('S3 through the proxy', () => {
  it.each([
    ['plain.txt', 'plain.txt'],
    ['with%20space.txt', 'with space.txt'],
    ["it's%20(1)!*.txt", "it's (1)!*.txt"],
    ['a+b.txt', 'a+b.txt'],
    ['a%2Bb%2Bc.txt', 'a+b+c.txt'],
    ['colon:at@comma,semi;.txt', 'colon:at@comma,semi;.txt'],
    ['equals=amp&dollar$.txt', 'equals=amp&dollar$.txt'],
    ['percent%25.txt', 'percent%.txt'],
    ['tilde~under_dash-.txt', 'tilde~under_dash-.txt'],
    ['%E6%97%A5%E6%9C%AC%E8%AA%9E.txt', '日本語.txt'],
    ['nested/deep/key.txt', 'nested/deep/key.txt'],
    ['nested%2Fencoded.txt', 'nested/encoded.txt'],
  ])('puts and gets the key sent as %s (%s)', async (sent, key) => {
    const content = Buffer.from(`content of ${key}\n`);
    const put = await call('PUT', `/bucket/${sent}`, content, { 'content-type': 'text/plain' });
    expect(put.status).toBe(200);
    expect(put.headers.etag).toBe(`"${crypto.createHash('md5').update(content).digest('hex')}"`);

    const got = await call('GET', `/bucket/${sent}`);
    expect(got.status).toBe(200);
    expect(got.body.equals(content)).toBe(true);

    const list = await call('GET', `/bucket?list-type=2&prefix=${encodeURIComponent(key)}`);
    expect(list.status).toBe(200);
    const escaped = key.replace(/&/g, '&amp;').replace(/'/g, '&#x27;');
    expect(list.body.toString()).toContain(`<Key>${escaped}</Key>`);
  });

  it('serves byte ranges and conditional requests', async () => {
    const content = crypto.randomBytes(10_000);
    expect((await call('PUT', '/bucket/ranged.bin', content)).status).toBe(200);
    const ranged = await call('GET', '/bucket/ranged.bin', undefined, { range: 'bytes=100-199' });
    expect(ranged.status).toBe(206);
    expect(ranged.headers['content-range']).toBe('bytes 100-199/10000');
    expect(ranged.body.equals(content.subarray(100, 200))).toBe(true);

    const head = await call('HEAD', '/bucket/ranged.bin');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('10000');
    const etag = head.headers.etag as string;
    const notModified = await call('GET', '/bucket/ranged.bin', undefined, { 'if-none-match': etag });
    expect(notModified.status).toBe(304);
  });

  it('stores user metadata sent as x-amz-meta-* and returns it', async () => {
    const put = await call('PUT', '/bucket/meta.txt', Buffer.from('m'), { 'x-amz-meta-owner': 'team-a' });
    expect(put.status).toBe(200);
    const head = await call('HEAD', '/bucket/meta.txt');
    expect(head.headers['x-amz-meta-owner']).toBe('team-a');
  });

  it('streams a large upload with UNSIGNED-PAYLOAD and reads it back intact', async () => {
    const content = crypto.randomBytes(3 * 1024 * 1024 + 17);
    const put = await call('PUT', '/bucket-stream/large.bin', content);
    expect(put.status).toBe(200);
    const got = await call('GET', '/bucket/large.bin');
    expect(got.body.equals(content)).toBe(true);
  });

  it('deletes an object, and S3 errors come back as S3 sent them', async () => {
    expect((await call('PUT', '/bucket/gone.txt', Buffer.from('x'))).status).toBe(200);
    expect((await call('DELETE', '/bucket/gone.txt')).status).toBe(204);
    const missing = await call('GET', '/bucket/gone.txt');
    expect(missing.status).toBe(404);
    expect(missing.body.toString()).toContain('<Code>NoSuchKey</Code>');
  });

  it('had every request accepted by the signature check', () => {
    // Runs last: any request the verifier refused is a signing bug.
    expect(s3.rejected).toEqual([]);
    expect(s3.accepted).toBeGreaterThan(40);
  });
});

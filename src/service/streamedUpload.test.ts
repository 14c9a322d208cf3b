/*
 * S3 uploads sent chunk-signed as they arrive (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), through a
 * real backend: the headers' signature is checked by aws4 and every chunk by a verifier
 * written from the specification (localAws/chunkedVerifier), separate from the signer, in
 * front of an S3 emulator that stores the decoded payload, and in a verifying upstream.
 */
import http from 'node:http';
import crypto from 'node:crypto';
import fc from 'fast-check';
import {
  S3RVER_CREDENTIALS,
  startVerifyingS3,
  startVerifyingUpstream,
  VerifyingS3,
  VerifyingUpstream,
} from '../../localAws';
import { RunningProxy, startProxy, USER } from '../__testUtils__/startProxy';
import { fcParameters } from '../__testUtils__/fcSettings';
import { CHUNK_SIZE, encodedLength } from '../signing/chunkedPayload';

const P = '/api/proxy-sigv4';
let s3: VerifyingS3;
let upstream: VerifyingUpstream;
let proxy: RunningProxy;

beforeAll(async () => {
  s3 = await startVerifyingS3(['test-bucket']);
  upstream = await startVerifyingUpstream({ [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS });
  const s3Route = { target: `${s3.url}/test-bucket`, service: 's3', region: 'us-east-1' };
  proxy = await startProxy(
    {
      // Uploads up to maxBodySize are buffered; larger ones stream, up to maxUploadSize.
      '/bucket': { ...s3Route, maxBodySize: 1000, maxUploadSize: 10_000_000 },
      // A cap set before streaming existed stays a cap.
      '/capped': { ...s3Route, maxBodySize: 200_000 },
      '/small': { ...s3Route, maxBodySize: CHUNK_SIZE, maxUploadSize: 100_000 },
      // By default (10 MiB buffered, 5 GiB streamed).
      '/default': s3Route,
      '/echo': { target: `${upstream.url}/b`, service: 's3', region: 'us-east-1', maxBodySize: CHUNK_SIZE, maxUploadSize: 10_000_000 },
    },
    { aws: { mainAccount: S3RVER_CREDENTIALS } },
  );
}, 30_000);
afterAll(async () => {
  await proxy.stop();
  await s3.close();
  await upstream.close();
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A PUT to the proxy, its body written in `pieces` (or chunked without a length). */
function put(path: string, body: Buffer, headers: Record<string, string> = {}, options: { chunkedTransfer?: boolean; piece?: number } = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: Number(new URL(proxy.baseUrl).port),
        method: 'PUT',
        path: `${P}${path}`,
        headers: {
          authorization: USER,
          ...(options.chunkedTransfer ? {} : { 'content-length': String(body.length) }),
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
    const piece = options.piece ?? body.length;
    for (let at = 0; at < body.length; at += piece) req.write(body.subarray(at, at + piece));
    req.end();
  });
}

const md5 = (b: Buffer) => `"${crypto.createHash('md5').update(b).digest('hex')}"`;

describe("S3 uploads above the route's maxBodySize", () => {
  it('stream chunk-signed: every chunk verifies, S3 stores the payload, and it reads back', async () => {
    const content = crypto.randomBytes(1024 * 1024 + 7);
    const res = await put('/bucket/big.bin', content, { 'content-type': 'application/octet-stream' }, { piece: 10_000 });
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe(md5(content));
    expect(s3.rejected).toEqual([]);
    expect(s3.streamed.at(-1)).toEqual({
      method: 'PUT',
      url: '/test-bucket/big.bin',
      chunks: Math.ceil(content.length / CHUNK_SIZE) + 1,
      decodedLength: content.length,
    });
    const back = await proxy.http().get(`${P}/bucket/big.bin`).set('authorization', USER).buffer(true).parse((r, cb) => {
      const parts: Buffer[] = [];
      r.on('data', (c: Buffer) => parts.push(c));
      r.on('end', () => cb(null, Buffer.concat(parts)));
    });
    expect(back.status).toBe(200);
    expect(Buffer.compare(back.body, content)).toBe(0);
  });

  it('frame exactly what the caller sent, for generated lengths around maxBodySize and chunk edges, in any pieces', async () => {
    const edges = [CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 1, 3 * CHUNK_SIZE - 5];
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 1, max: 300_000 })),
        fc.integer({ min: 1, max: 70_000 }),
        async (length, piece) => {
          const content = crypto.randomBytes(length);
          const before = upstream.received.length;
          const res = await put('/echo/k', content, {}, { piece });
          expect(res.status).toBe(200);
          const got = upstream.received[before];
          expect(got.signatureError).toBeUndefined();
          expect(Buffer.compare(got.body, content)).toBe(0);
          // Above maxBodySize (64 KiB here) chunk-signed; at or below, hashed whole, as before.
          const streamed = length > CHUNK_SIZE;
          expect({
            sha256: got.headers['x-amz-content-sha256'],
            length: got.headers['content-length'],
            decoded: got.headers['x-amz-decoded-content-length'],
            chunks: got.chunked?.chunks,
          }).toEqual(
            streamed
              ? {
                  sha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
                  length: String(encodedLength(length)),
                  decoded: String(length),
                  chunks: Math.ceil(length / CHUNK_SIZE) + 1,
                }
              : {
                  sha256: crypto.createHash('sha256').update(content).digest('hex'),
                  length: String(length),
                  decoded: undefined,
                  chunks: undefined,
                },
          );
        },
      ),
      fcParameters(25),
    );
  }, 60_000);

  it("keep the caller's content-encoding after aws-chunked, and refuse the caller's own aws-chunked", async () => {
    const content = crypto.randomBytes(100_000);
    const before = upstream.received.length;
    expect((await put('/echo/gz', content, { 'content-encoding': 'gzip' })).status).toBe(200);
    expect(upstream.received[before].headers['content-encoding']).toBe('aws-chunked,gzip');
    const own = await put('/echo/own', content, { 'content-encoding': 'aws-chunked' });
    expect(own.status).toBe(400);
    expect(JSON.parse(own.body.toString()).error.message).toMatch(/aws-chunked is chosen by the proxy/);
    expect(upstream.received.length).toBe(before + 1);
  });

  it("refuse an upload above the route's maxUploadSize before anything is sent", async () => {
    const before = upstream.received.length + s3.accepted;
    const res = await put('/small/too-big.bin', crypto.randomBytes(100_001));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body.toString()).error.message).toMatch(/maxUploadSize of 100000/);
    expect(upstream.received.length + s3.accepted).toBe(before);
    expect((await put('/small/fits.bin', crypto.randomBytes(100_000))).status).toBe(200);
    const capped = await put('/capped/too-big.bin', crypto.randomBytes(200_001));
    expect(capped.status).toBe(413);
    expect(JSON.parse(capped.body.toString()).error.message).toMatch(/maxUploadSize of 200000/);
  });

  it('stream only PutObject and UploadPart; a subresource PUT is buffered, within maxBodySize', async () => {
    const content = crypto.randomBytes(70_000);
    const before = upstream.received.length;
    expect((await put('/echo/part?partNumber=2&uploadId=abc', content)).status).toBe(200);
    expect((await put('/echo/obj?x-id=PutObject', content)).status).toBe(200);
    expect(upstream.received.slice(before).map(r => [r.url.split('?')[1], r.chunked !== undefined])).toEqual([
      ['partNumber=2&uploadId=abc', true],
      ['x-id=PutObject', true],
    ]);
    for (const subresource of ['/?lifecycle', '/obj?tagging']) {
      const res = await put(`/echo${subresource}`, content);
      expect([subresource, res.status]).toEqual([subresource, 413]);
    }
    expect(upstream.received.length).toBe(before + 2);
  });

  it('by default, buffer up to 10 MiB and stream above it', async () => {
    const content = crypto.randomBytes(10 * 1024 * 1024 + 1);
    const res = await put('/default/eleven.bin', content, {}, { piece: 1 << 20 });
    expect(res.status).toBe(200);
    expect(res.headers.etag).toBe(md5(content));
    expect(s3.streamed.at(-1)).toMatchObject({ url: '/test-bucket/eleven.bin', decodedLength: content.length });
  });

  it('buffer an upload without a Content-Length, up to maxBodySize, signed with its hash', async () => {
    const before = upstream.received.length;
    const small = await put('/echo/unknown', crypto.randomBytes(60_000), {}, { chunkedTransfer: true });
    expect(small.status).toBe(200);
    expect(upstream.received[before].chunked).toBeUndefined();
    expect(upstream.received[before].headers['content-length']).toBe('60000');
    const limited = await put('/bucket/unknown', crypto.randomBytes(2000), {}, { chunkedTransfer: true });
    expect(limited.status).toBe(413);
    expect(JSON.parse(limited.body.toString()).error.message).toMatch(/send an upload \(PutObject, UploadPart\) with a Content-Length/);
  });

  it('never ends an upload cut off by the caller: the upstream sees no complete request', async () => {
    const before = upstream.received.length;
    await new Promise<void>(resolve => {
      const req = http.request({
        host: '127.0.0.1',
        port: Number(new URL(proxy.baseUrl).port),
        method: 'PUT',
        path: `${P}/echo/cut`,
        headers: { authorization: USER, 'content-length': String(1_000_000) },
      });
      req.on('error', () => resolve());
      req.write(crypto.randomBytes(300_000), () => setTimeout(() => { req.destroy(); resolve(); }, 300));
    });
    await new Promise(r => setTimeout(r, 300));
    expect(upstream.received.length).toBe(before);
    // The proxy carries on.
    expect((await put('/echo/after', crypto.randomBytes(70_000))).status).toBe(200);
  });
});

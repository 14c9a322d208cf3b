/*
 * The local upstream and S3 check streamed uploads chunk by chunk and presigned requests
 * as S3 does: a streamed PUT arrives decoded, with its chunks counted, and a spoiled chunk
 * is refused naming the chunk; through the verifying S3 the object stored is the payload
 * (not the aws-chunked framing), and a presigned PUT and GET write and read it. The seed
 * and presigned signatures here are aws4's; the chunks are the plugin's chunk signer's.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import { Readable, Transform } from 'node:stream';
import aws4 from 'aws4';
import { chunkSigner, encodedLength, STREAMING_PAYLOAD } from '../signing/chunkedPayload';
import {
  S3RVER_CREDENTIALS,
  startVerifyingS3,
  startVerifyingUpstream,
  VerifyingS3,
  VerifyingUpstream,
} from '../../localAws';

const CREDS = { accessKeyId: 'AKIDSTREAM', secretAccessKey: 'stream/secret' };

function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const hmac = (key: crypto.BinaryLike, data: string) => crypto.createHmac('sha256', key).update(data).digest();
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

interface Sent {
  status: number;
  body: string;
}

function send(url: string, options: http.RequestOptions, body?: Readable | Buffer): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, res => {
      const parts: Buffer[] = [];
      res.on('data', c => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    if (body instanceof Readable) body.pipe(req);
    else req.end(body);
  });
}

/**
 * A streamed signed PUT: headers signed by aws4 with the STREAMING payload hash, the body
 * framed and signed by chunkSigner; `spoil` may alter the wire on its way.
 */
async function streamedPut(
  base: string,
  path: string,
  payload: Buffer,
  creds: { accessKeyId: string; secretAccessKey: string },
  spoil?: (wire: Buffer) => Buffer,
): Promise<Sent> {
  const { host } = new URL(base);
  const region = 'us-east-1';
  const signed = aws4.sign(
    {
      method: 'PUT',
      host,
      path,
      service: 's3',
      region,
      headers: {
        'x-amz-content-sha256': STREAMING_PAYLOAD,
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(payload.length),
        'content-length': String(encodedLength(payload.length)),
      },
    },
    creds,
  );
  const headers = signed.headers as Record<string, string>;
  const amzDate = headers['X-Amz-Date'];
  const seedSignature = /Signature=([0-9a-f]{64})/.exec(headers.Authorization)![1];
  const signer = chunkSigner(
    {
      signingKey: signingKey(creds.secretAccessKey, amzDate.slice(0, 8), region, 's3'),
      amzDate,
      scope: `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`,
      seedSignature,
    },
    { decodedLength: payload.length },
  );
  const spoiler = new Transform({ transform: (c, _e, cb) => cb(null, spoil ? spoil(c) : c) });
  const pieces = Readable.from([payload.subarray(0, 1000), payload.subarray(1000)]);
  return send(`${base}${path}`, { method: 'PUT', headers }, pieces.pipe(signer).pipe(spoiler));
}

/** A URL aws4 presigns for `base` + `path`. */
function presigned(base: string, method: string, path: string, creds = CREDS): string {
  const { host } = new URL(base);
  const signed = aws4.sign(
    { method, host, path: `${path}?X-Amz-Expires=300`, service: 's3', region: 'us-east-1', signQuery: true },
    creds,
  );
  return `${base}${signed.path}`;
}

describe('verifying upstream: streamed uploads and presigned requests', () => {
  let upstream: VerifyingUpstream;
  beforeAll(async () => {
    upstream = await startVerifyingUpstream({ [CREDS.accessKeyId]: CREDS });
  });
  afterAll(() => upstream.close());
  beforeEach(() => upstream.received.splice(0));

  it('verifies every chunk of a streamed upload and records the decoded payload', async () => {
    const payload = crypto.randomBytes(200_000);
    const answer = await streamedPut(upstream.url, '/bucket/big.bin', payload, CREDS);
    expect(answer.status).toBe(200);
    const [received] = upstream.received;
    expect(received.signatureError).toBeUndefined();
    expect(received.body.equals(payload)).toBe(true);
    expect(received.wireBody!.length).toBe(encodedLength(payload.length));
    expect(received.chunked).toEqual({ chunks: 5, chunkSizes: [65536, 65536, 65536, 3392] });
    expect(JSON.parse(answer.body)).toMatchObject({ bodyLength: 200_000, chunks: 5 });
  });

  it('refuses a streamed upload whose chunk was altered, saying which', async () => {
    const payload = Buffer.alloc(100_000, 'p');
    let seen = 0;
    const answer = await streamedPut(upstream.url, '/bucket/big.bin', payload, CREDS, wire => {
      const out = Buffer.from(wire);
      // A byte of the second chunk's data, wherever the pieces fall.
      const target = 65626 + 200;
      if (target >= seen && target < seen + out.length) out[target - seen] ^= 1;
      seen += wire.length;
      return out;
    });
    expect(answer.status).toBe(403);
    const [received] = upstream.received;
    expect(received.signatureError).toMatch(/^streamed body: chunk 2 \(34464 bytes\): chunk-signature does not match/);
    expect(received.errorCode).toBe('SignatureDoesNotMatch');
    expect(received.chunked).toBeUndefined();
  });

  it('checks presigned requests as S3 does and marks them', async () => {
    const ok = await send(presigned(upstream.url, 'GET', '/bucket/a.txt'), { method: 'GET' });
    expect(ok.status).toBe(200);
    expect(upstream.received[0]).toMatchObject({ presigned: true, signatureError: undefined, service: 's3' });
    const tampered = presigned(upstream.url, 'GET', '/bucket/a.txt').replace('a.txt', 'b.txt');
    expect((await send(tampered, { method: 'GET' })).status).toBe(403);
    expect(upstream.received[1]).toMatchObject({ presigned: true, errorCode: 'SignatureDoesNotMatch' });
  });
});

describe('verifying S3: streamed uploads and presigned requests reach the objects', () => {
  let s3: VerifyingS3;
  beforeAll(async () => {
    s3 = await startVerifyingS3(['bucket'], { accepted: { [CREDS.accessKeyId]: CREDS } });
  });
  afterAll(() => s3.close());

  async function getObject(path: string): Promise<Sent> {
    return send(presigned(s3.url, 'GET', path, S3RVER_CREDENTIALS), { method: 'GET' });
  }

  it('stores the payload of a streamed upload, not its framing', async () => {
    const payload = crypto.randomBytes(150_000);
    const put = await streamedPut(s3.url, '/bucket/streamed.bin', payload, CREDS);
    expect(put.status).toBe(200);
    expect(s3.streamed).toContainEqual({ method: 'PUT', url: '/bucket/streamed.bin', chunks: 4, decodedLength: 150_000 });
    const signed = aws4.sign({ host: new URL(s3.url).host, path: '/bucket/streamed.bin', service: 's3', region: 'us-east-1' }, CREDS);
    const got = await new Promise<{ body: Buffer; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      http
        .get(`${s3.url}/bucket/streamed.bin`, { headers: signed.headers as Record<string, string> }, res => {
          const parts: Buffer[] = [];
          res.on('data', c => parts.push(c));
          res.on('end', () => resolve({ body: Buffer.concat(parts), headers: res.headers }));
        })
        .on('error', reject);
    });
    expect(got.body.equals(payload)).toBe(true);
    expect(got.headers['content-encoding']).toBeUndefined();
  });

  it('refuses a spoiled streamed upload and stores nothing', async () => {
    const put = await streamedPut(s3.url, '/bucket/spoiled.bin', Buffer.alloc(70_000, 's'), CREDS, wire =>
      Buffer.from(wire.toString('latin1').replace('ssss', 'sssS'), 'latin1'),
    );
    expect(put.status).toBe(403);
    expect(put.body).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect(s3.rejected.at(-1)).toMatch(/streamed body: chunk 1 /);
    expect((await getObject('/bucket/spoiled.bin')).status).toBe(404);
  });

  it('writes and reads objects through presigned PUT and GET', async () => {
    const put = await send(presigned(s3.url, 'PUT', '/bucket/presigned.txt'), { method: 'PUT' }, Buffer.from('by URL'));
    expect(put.status).toBe(200);
    const get = await send(presigned(s3.url, 'GET', '/bucket/presigned.txt'), { method: 'GET' });
    expect(get).toEqual({ status: 200, body: 'by URL' });
    expect(s3.presigned.map(p => p.method)).toEqual(expect.arrayContaining(['PUT', 'GET']));
    const expired = aws4.sign(
      {
        host: new URL(s3.url).host,
        path: '/bucket/presigned.txt?X-Amz-Date=20200101T000000Z&X-Amz-Expires=300',
        service: 's3',
        region: 'us-east-1',
        signQuery: true,
      },
      CREDS,
    );
    const refused = await send(`${s3.url}${expired.path}`, { method: 'GET' });
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('<Code>AccessDenied</Code>');
    expect(s3.rejected.at(-1)).toMatch(/Request has expired/);
  });
});

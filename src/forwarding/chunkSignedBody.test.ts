/*
 * The caller's upload, framed and chunk-signed as it arrives: it ends only when the caller's
 * body ended whole; a caller that goes away fails it, so the upload to S3 is cut off, never
 * ended short.
 */
import { PassThrough } from 'node:stream';
import { IncomingMessage } from 'node:http';
import { chunkSignedBody } from './chunkSignedBody';
import { encodedLength } from '../signing/chunkedPayload';

const context = {
  signingKey: Buffer.alloc(32, 7),
  amzDate: '20261202T000000Z',
  scope: '20261202/us-east-1/s3/aws4_request',
  seedSignature: 'a'.repeat(64),
};

/** What the framed stream did: its bytes, and whether it ended or failed. */
function outcome(framed: NodeJS.ReadableStream) {
  return new Promise<{ bytes: number; ended: boolean; error?: string }>(resolve => {
    let bytes = 0;
    framed.on('data', (c: Buffer) => (bytes += c.length));
    framed.on('end', () => resolve({ bytes, ended: true }));
    framed.on('error', e => resolve({ bytes, ended: false, error: (e as Error).message }));
  });
}

it('ends with the whole framing when the caller sent every byte, and counts the payload', async () => {
  const req = new PassThrough();
  let payload = 0;
  const framed = chunkSignedBody(req as unknown as IncomingMessage, context, 200_000, n => (payload += n));
  const done = outcome(framed);
  req.write(Buffer.alloc(150_000));
  req.end(Buffer.alloc(50_000));
  expect(await done).toEqual({ bytes: encodedLength(200_000), ended: true });
  expect(payload).toBe(200_000);
});

it('fails, never ends, when the caller goes away mid-upload', async () => {
  const req = new PassThrough();
  const framed = chunkSignedBody(req as unknown as IncomingMessage, context, 200_000);
  const done = outcome(framed);
  req.write(Buffer.alloc(100_000));
  await new Promise(r => setImmediate(r));
  req.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  const result = await done;
  expect(result.ended).toBe(false);
  expect(result.bytes).toBeLessThan(encodedLength(200_000));
});

it('fails when the caller ends short of its declared length', async () => {
  const req = new PassThrough();
  const framed = chunkSignedBody(req as unknown as IncomingMessage, context, 200_000);
  const done = outcome(framed);
  req.end(Buffer.alloc(100_000));
  expect(await done).toMatchObject({ ended: false, error: expect.stringMatching(/ended after 100000 of the 200000 bytes/) });
});

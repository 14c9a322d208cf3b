/*
 * The chunk signer, proven against AWS's own published example (S3 API reference,
 * "Signature Calculations for the Authorization Header: Transferring Payload in Multiple
 * Chunks (Chunked Upload)", Example: PUT Object), and against the verifier of localAws,
 * written from the specification apart from the signer, over generated lengths and splits.
 */
import crypto from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import {
  CHUNK_SIZE,
  ChunkSigningContext,
  STREAMING_PAYLOAD,
  chunkSignature,
  chunkSigner,
  encodedLength,
} from './chunkedPayload';
import { verifyChunkedBody } from '../../localAws';
import { fcParameters } from '../__testUtils__/fcSettings';

/** The example's values, as AWS publishes them. */
const EXAMPLE = {
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  amzDate: '20130524T000000Z',
  scope: '20130524/us-east-1/s3/aws4_request',
  seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
  chunkSignatures: [
    'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
    '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
    'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
  ],
  payload: Buffer.alloc(66560, 'a'),
  contentLength: 66824,
};

/** SigV4's key derivation, from the specification (the signer takes the key, it does not make it). */
function signingKey(secret: string, scope: string): Buffer {
  const hmac = (key: crypto.BinaryLike, data: string) =>
    crypto.createHmac('sha256', key).update(data).digest();
  const [date, region, service] = scope.split('/');
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

const CONTEXT: ChunkSigningContext = {
  signingKey: signingKey(EXAMPLE.secretAccessKey, EXAMPLE.scope),
  amzDate: EXAMPLE.amzDate,
  scope: EXAMPLE.scope,
  seedSignature: EXAMPLE.seedSignature,
};

/** Runs `pieces` through a signer; resolves with the wire bytes, or rejects with its error. */
async function sign(
  pieces: Buffer[],
  options: { decodedLength: number; chunkSize?: number },
  slowReader = false,
): Promise<{ wire: Buffer; outputs: number }> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces, { objectMode: false }), chunkSigner(CONTEXT, options), async source => {
    for await (const b of source) {
      out.push(b as Buffer);
      if (slowReader) await new Promise(r => setImmediate(r));
    }
  });
  return { wire: Buffer.concat(out), outputs: out.length };
}

function verify(wire: Buffer, decodedLength: number) {
  return verifyChunkedBody({
    wire,
    secretAccessKey: EXAMPLE.secretAccessKey,
    amzDate: EXAMPLE.amzDate,
    scope: EXAMPLE.scope,
    seedSignature: EXAMPLE.seedSignature,
    decodedLength,
  });
}

/** Splits `payload` at the given cut points (any order, duplicates allowed). */
function split(payload: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map(c => c % (payload.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let from = 0;
  for (const p of [...points, payload.length]) {
    if (p > from) pieces.push(payload.subarray(from, p));
    from = Math.max(from, p);
  }
  return pieces;
}

describe('chunk signing: AWS example (PUT Object, 66560 bytes of "a", 64 KiB chunks)', () => {
  it('computes each chunk signature AWS publishes, chained from the seed signature', () => {
    const [first, second, final] = EXAMPLE.chunkSignatures;
    expect(chunkSignature(CONTEXT, EXAMPLE.seedSignature, EXAMPLE.payload.subarray(0, 65536))).toBe(first);
    expect(chunkSignature(CONTEXT, first, EXAMPLE.payload.subarray(65536))).toBe(second);
    expect(chunkSignature(CONTEXT, second, Buffer.alloc(0))).toBe(final);
  });

  it('has the encoded Content-Length AWS publishes', () => {
    expect(encodedLength(66560, 65536)).toBe(EXAMPLE.contentLength);
    expect(CHUNK_SIZE).toBe(65536);
    expect(encodedLength(66560)).toBe(EXAMPLE.contentLength);
    expect(STREAMING_PAYLOAD).toBe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD');
  });

  it('streams exactly the body AWS describes', async () => {
    const [first, second, final] = EXAMPLE.chunkSignatures;
    const expected = Buffer.concat([
      Buffer.from(`10000;chunk-signature=${first}\r\n`),
      Buffer.alloc(65536, 'a'),
      Buffer.from(`\r\n400;chunk-signature=${second}\r\n`),
      Buffer.alloc(1024, 'a'),
      Buffer.from(`\r\n0;chunk-signature=${final}\r\n\r\n`),
    ]);
    const { wire } = await sign([EXAMPLE.payload], { decodedLength: 66560, chunkSize: 65536 });
    expect(wire.length).toBe(EXAMPLE.contentLength);
    expect(wire.equals(expected)).toBe(true);
    const check = verify(wire, 66560);
    expect(check).toEqual({ payload: EXAMPLE.payload, chunks: 3, chunkSizes: [65536, 1024] });
  });

  it('gives the same wire bytes when the payload arrives one byte at a time', async () => {
    const pieces = Array.from({ length: EXAMPLE.payload.length }, (_, i) => EXAMPLE.payload.subarray(i, i + 1));
    const { wire } = await sign(pieces, { decodedLength: 66560 });
    const { wire: whole } = await sign([EXAMPLE.payload], { decodedLength: 66560 });
    expect(wire.equals(whole)).toBe(true);
  });
});

describe('chunk signing: generated lengths and splits, checked by the separate verifier', () => {
  it('frames any length split anyhow into chunks the verifier accepts, of encodedLength bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5 * 8192 + 100 }),
        fc.constantFrom(8192, 8193, 10_000, 65536),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.boolean(),
        async (length, chunkSize, cuts, slowReader) => {
          const payload = crypto.randomBytes(length);
          const { wire } = await sign(split(payload, cuts), { decodedLength: length, chunkSize }, slowReader);
          expect(wire.length).toBe(encodedLength(length, chunkSize));
          const check = verify(wire, length);
          if ('error' in check) throw new Error(check.error);
          expect(check.payload.equals(payload)).toBe(true);
          expect(check.chunks).toBe(Math.ceil(length / chunkSize) + 1);
        },
      ),
      fcParameters(100),
    );
  });

  it('refuses an input shorter or longer than decodedLength', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 * 8192 }),
        fc.integer({ min: 1, max: 9000 }),
        fc.boolean(),
        async (declared, off, short) => {
          fc.pre(!short || off <= declared);
          const actual = short ? declared - off : declared + off;
          const payload = Buffer.alloc(actual, 'x');
          await expect(sign(split(payload, [4096, 9000]), { decodedLength: declared, chunkSize: 8192 })).rejects.toThrow(
            short
              ? `the body ended after ${actual} of the ${declared} bytes declared`
              : `the body runs past the ${declared} bytes declared`,
          );
        },
      ),
      fcParameters(30),
    );
  });

  it('refuses a chunk size S3 would refuse', () => {
    expect(() => chunkSigner(CONTEXT, { decodedLength: 10, chunkSize: 8191 })).toThrow(RangeError);
    expect(() => chunkSigner(CONTEXT, { decodedLength: -1 })).toThrow(RangeError);
    expect(() => encodedLength(1.5)).toThrow(RangeError);
  });

  it('emits a chunk as soon as it is full, before the input ends', async () => {
    const signer = chunkSigner(CONTEXT, { decodedLength: 3 * 8192, chunkSize: 8192 });
    const seen: Buffer[] = [];
    signer.on('data', b => seen.push(b));
    signer.write(Buffer.alloc(8192 + 5, 1));
    await new Promise(r => setImmediate(r));
    expect(seen).toHaveLength(1);
    expect(seen[0].length).toBe(encodedLength(8192, 8192) - encodedLength(0, 8192));
    signer.end(Buffer.alloc(2 * 8192 - 5, 2));
    await new Promise(r => signer.on('end', r));
    expect(seen).toHaveLength(4);
  });
});

describe('chunk signing: memory stays bounded', () => {
  /** A reader that reads nothing until told: how many bytes has the signer framed ahead? */
  function bufferedAhead(signer: Transform): number {
    return signer.readableLength;
  }

  it('does not frame a large piece ahead of a reader that is behind', async () => {
    const chunkSize = 8192;
    const total = 64 * chunkSize;
    const signer = chunkSigner(CONTEXT, { decodedLength: total, chunkSize });
    signer.write(Buffer.alloc(total, 7));
    await new Promise(r => setImmediate(r));
    // One 8 KiB chunk (and its framing) is waiting; the other 63 are not yet built.
    expect(bufferedAhead(signer)).toBeLessThanOrEqual(2 * (chunkSize + 100));
    const out: Buffer[] = [];
    signer.on('data', b => out.push(b));
    signer.end();
    await new Promise(r => signer.on('end', r));
    const check = verify(Buffer.concat(out), total);
    if ('error' in check) throw new Error(check.error);
    expect(check.chunks).toBe(65);
  });

  it('streams 64 MiB in 64 KiB pieces with at most a few chunks in memory', async () => {
    const total = 64 * 1024 * 1024;
    const piece = Buffer.alloc(64 * 1024, 3);
    const context = { ...CONTEXT };
    let maxAhead = 0;
    let bytes = 0;
    const signer = chunkSigner(context, { decodedLength: total });
    async function* source() {
      for (let sent = 0; sent < total; sent += piece.length) {
        maxAhead = Math.max(maxAhead, bufferedAhead(signer));
        yield piece;
      }
    }
    await pipeline(source(), signer, async out => {
      for await (const b of out) {
        bytes += (b as Buffer).length;
      }
    });
    expect(bytes).toBe(encodedLength(total));
    expect(maxAhead).toBeLessThanOrEqual(2 * (CHUNK_SIZE + 100));
  });
});

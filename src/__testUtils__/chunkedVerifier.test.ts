/*
 * The streamed-chunk verifier of localAws (chunkedVerifier), which the tests use to check
 * every chunk the plugin streams: it accepts AWS's published example (S3 API reference,
 * "Transferring Payload in Multiple Chunks", Example: PUT Object), byte for byte as AWS
 * prints it, and refuses each way of spoiling it, saying which chunk and why. Built here by
 * hand from the example's published signatures, not with the plugin's signer. Also: aws4
 * (the header check of localAws) computes the example's seed signature, so it takes the
 * x-amz-content-sha256 header as the payload hash.
 */
import crypto from 'node:crypto';
import aws4 from 'aws4';
import { verifyChunkedBody } from '../../localAws';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const AMZ_DATE = '20130524T000000Z';
const SCOPE = '20130524/us-east-1/s3/aws4_request';
const SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const SIG1 = 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648';
const SIG2 = '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497';
const SIG3 = 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9';

function chunk(size: number, signature: string, fill = 'a'): Buffer {
  return Buffer.concat([
    Buffer.from(`${size.toString(16)};chunk-signature=${signature}\r\n`),
    Buffer.alloc(size, fill),
    Buffer.from('\r\n'),
  ]);
}

const CHUNK1 = chunk(65536, SIG1);
const CHUNK2 = chunk(1024, SIG2);
const FINAL = chunk(0, SIG3);
const EXAMPLE = Buffer.concat([CHUNK1, CHUNK2, FINAL]);

function verify(wire: Buffer, decodedLength = 66560, seedSignature = SEED) {
  return verifyChunkedBody({ wire, secretAccessKey: SECRET, amzDate: AMZ_DATE, scope: SCOPE, seedSignature, decodedLength });
}

function errorOf(result: ReturnType<typeof verify>): string {
  if (!('error' in result)) throw new Error('the verifier accepted it');
  return result.error;
}

describe('verifyChunkedBody', () => {
  it("accepts AWS's example body, 66824 bytes, and returns its 66560-byte payload", () => {
    expect(EXAMPLE.length).toBe(66824);
    const result = verify(EXAMPLE);
    if ('error' in result) throw new Error(result.error);
    expect(result.payload.equals(Buffer.alloc(66560, 'a'))).toBe(true);
    expect(result.chunks).toBe(3);
    expect(result.chunkSizes).toEqual([65536, 1024]);
  });

  it("agrees with aws4 on the example's seed signature (aws4 hashes nothing: it takes x-amz-content-sha256)", () => {
    const signer = new (aws4 as any).RequestSigner(
      {
        method: 'PUT',
        host: 's3.amazonaws.com',
        path: '/examplebucket/chunkObject.txt',
        service: 's3',
        region: 'us-east-1',
        body: EXAMPLE,
        doNotModifyHeaders: true,
        headers: {
          host: 's3.amazonaws.com',
          'x-amz-date': AMZ_DATE,
          'x-amz-storage-class': 'REDUCED_REDUNDANCY',
          'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
          'content-encoding': 'aws-chunked',
          'x-amz-decoded-content-length': '66560',
          'content-length': '66824',
        },
      },
      { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: SECRET },
    );
    signer.datetime = AMZ_DATE;
    expect(signer.signature()).toBe(SEED);
  });

  it('refuses a flipped byte of data, naming the chunk', () => {
    const wire = Buffer.from(EXAMPLE);
    wire[CHUNK1.length + 90] = 'b'.charCodeAt(0);
    expect(errorOf(verify(wire))).toMatch(/^chunk 2 \(1024 bytes\): chunk-signature does not match/);
    expect(verify(wire)).toMatchObject({ code: 'SignatureDoesNotMatch' });
  });

  it('refuses a wrong signature, and a body chained from another seed', () => {
    const wire = Buffer.from(EXAMPLE);
    wire[30] = wire[30] === 0x30 ? 0x31 : 0x30;
    expect(errorOf(verify(wire))).toMatch(/^chunk 1 \(65536 bytes\): chunk-signature does not match/);
    expect(errorOf(verify(EXAMPLE, 66560, SIG3))).toMatch(/^chunk 1 /);
    expect(errorOf(verify(Buffer.concat([CHUNK1, FINAL]), 65536))).toMatch(/^chunk 2 \(0 bytes\)/);
  });

  it('refuses reordered chunks', () => {
    expect(errorOf(verify(Buffer.concat([CHUNK2, CHUNK1, FINAL])))).toMatch(/^chunk 1 \(1024 bytes\): chunk-signature does not match/);
  });

  it('refuses a body without its final 0-size chunk, or with bytes after it', () => {
    expect(errorOf(verify(Buffer.concat([CHUNK1, CHUNK2])))).toBe(
      'the body ends after chunk 2 without the final 0-size chunk',
    );
    expect(errorOf(verify(Buffer.concat([EXAMPLE, Buffer.from('x')])))).toBe(
      '1 bytes follow the final 0-size chunk (chunk 3)',
    );
    expect(errorOf(verify(Buffer.concat([EXAMPLE, FINAL])))).toMatch(/follow the final 0-size chunk/);
  });

  it('refuses a decoded length other than what the chunks carry', () => {
    expect(errorOf(verify(EXAMPLE, 66561))).toBe('the chunks carry 66560 bytes, x-amz-decoded-content-length says 66561');
    expect(errorOf(verify(EXAMPLE, 66559))).toMatch(/^chunk 2: the chunks carry more than the 66559 bytes/);
    expect(errorOf(verify(EXAMPLE, 1e9))).toMatch(/is more than the 66824 bytes that arrived/);
  });

  it('refuses broken framing', () => {
    const truncated = EXAMPLE.subarray(0, 1000);
    expect(errorOf(verify(truncated))).toMatch(/is more than the 1000 bytes that arrived/);
    expect(errorOf(verify(truncated, 900))).toBe('chunk 1: declares 65536 bytes, but only 912 bytes of body follow its header');
    const noCrlf = Buffer.from(EXAMPLE);
    noCrlf[CHUNK1.length - 2] = 0x20;
    expect(errorOf(verify(noCrlf))).toBe('chunk 1: its 65536 bytes of data are not followed by CRLF');
    const upper = Buffer.concat([Buffer.from(CHUNK1.toString('latin1').replace(SIG1, SIG1.toUpperCase()), 'latin1'), CHUNK2, FINAL]);
    expect(errorOf(verify(upper))).toMatch(/^chunk 1: malformed header/);
    const spaced = Buffer.concat([Buffer.from(CHUNK1.toString('latin1').replace(';chunk', ' ;chunk'), 'latin1'), CHUNK2, FINAL]);
    expect(errorOf(verify(spaced))).toMatch(/^chunk 1: malformed header/);
    const shortSig = Buffer.concat([Buffer.from(CHUNK1.toString('latin1').replace(SIG1, SIG1.slice(1)), 'latin1'), CHUNK2, FINAL]);
    expect(errorOf(verify(shortSig))).toMatch(/^chunk 1: malformed header/);
    expect(errorOf(verify(Buffer.from('garbage without any line end'.repeat(10)), 10))).toMatch(/^chunk 1: no CRLF-terminated header/);
  });

  describe('chunk sizes (at least 8 KiB but the last data chunk)', () => {
    /** A body of the given chunk sizes, signed here from the specification. */
    function signed(sizes: number[]): Buffer {
      const hmac = (key: crypto.BinaryLike, data: string) => crypto.createHmac('sha256', key).update(data).digest();
      const key = hmac(hmac(hmac(hmac(`AWS4${SECRET}`, '20130524'), 'us-east-1'), 's3'), 'aws4_request');
      const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
      let previous = SEED;
      return Buffer.concat(
        [...sizes, 0].map(size => {
          const data = Buffer.alloc(size, 'z');
          previous = hmac(
            key,
            ['AWS4-HMAC-SHA256-PAYLOAD', AMZ_DATE, SCOPE, previous, sha(Buffer.alloc(0)), sha(data)].join('\n'),
          ).toString('hex');
          return chunk(size, previous, 'z');
        }),
      );
    }
    const total = (sizes: number[]) => sizes.reduce((a, b) => a + b, 0);

    it('accepts 8 KiB chunks and a small last one, or a small single one', () => {
      for (const sizes of [[8192, 8192, 1], [1], [], [8192], [9000, 100]]) {
        const result = verify(signed(sizes), total(sizes));
        if ('error' in result) throw new Error(`${sizes}: ${result.error}`);
        expect(result.chunks).toBe(sizes.length + 1);
      }
    });

    it('refuses a chunk under 8 KiB that is not the last', () => {
      expect(verify(signed([8191, 8192]), 16383)).toEqual({
        error: 'chunk 1 has 8191 bytes: under 8192, yet it is not the last data chunk',
        code: 'InvalidChunkSizeError',
      });
      expect(errorOf(verify(signed([8192, 100, 100]), 8392))).toMatch(/^chunk 2 has 100 bytes/);
    });
  });
});

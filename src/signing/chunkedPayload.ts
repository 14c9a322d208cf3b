/*
 * The chunk signer of S3's streaming signed uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD):
 * the request's headers are signed first (the seed signature, with that constant as the
 * payload hash), then the body is sent in `aws-chunked` framing, each chunk signed with the
 * previous chunk's signature, so that a signed upload streams and keeps its integrity.
 * `@smithy/signature-v4` has none. Pure: no I/O, no credentials lookup; the caller derives
 * the signing key and the seed signature.
 *
 * Framing (S3 API reference, "Transferring payload in multiple chunks"):
 *   hex(size);chunk-signature=<64 hex>\r\n<data>\r\n ... 0;chunk-signature=<64 hex>\r\n\r\n
 * A chunk's string to sign:
 *   AWS4-HMAC-SHA256-PAYLOAD \n amzDate \n scope \n previous signature \n hash("") \n hash(data)
 */
import crypto from 'node:crypto';
import { Transform, TransformCallback } from 'node:stream';

export const STREAMING_PAYLOAD = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';

/** Bytes of payload per chunk (the last may be shorter); the AWS SDKs use 64 KiB. */
export const CHUNK_SIZE = 64 * 1024;

/** S3 refuses chunks under 8 KiB but the last. */
const MIN_CHUNK_SIZE = 8 * 1024;

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SIGNATURE_LABEL = ';chunk-signature=';
/** `;chunk-signature=` + 64 hex + CRLF after the size, and the CRLF after the data. */
const FRAMING_BYTES = SIGNATURE_LABEL.length + 64 + 2 + 2;

/** Bytes a chunk of `size` payload bytes takes on the wire. */
function framedLength(size: number): number {
  return size.toString(16).length + FRAMING_BYTES + size;
}

/** Wire length (Content-Length) of `decodedLength` payload bytes framed in chunks of `chunkSize`, final 0-size chunk included. */
export function encodedLength(decodedLength: number, chunkSize: number = CHUNK_SIZE): number {
  checkSizes(decodedLength, chunkSize);
  const full = Math.floor(decodedLength / chunkSize);
  const rest = decodedLength % chunkSize;
  return full * framedLength(chunkSize) + (rest > 0 ? framedLength(rest) : 0) + framedLength(0);
}

export interface ChunkSigningContext {
  /** The SigV4 signing key (HMAC chain of secret, date, region, service, aws4_request). */
  signingKey: Uint8Array;
  /** x-amz-date of the request, yyyymmddThhmmssZ. */
  amzDate: string;
  /** Credential scope: yyyymmdd/region/service/aws4_request. */
  scope: string;
  /** The request's own (seed) signature, from its Authorization header. */
  seedSignature: string;
}

/** Signature of one chunk (exported for the AWS-example test). */
export function chunkSignature(
  context: Omit<ChunkSigningContext, 'seedSignature'>,
  previousSignature: string,
  chunk: Uint8Array,
): string {
  const dataHash =
    chunk.length === 0 ? EMPTY_SHA256 : crypto.createHash('sha256').update(chunk).digest('hex');
  const stringToSign = `AWS4-HMAC-SHA256-PAYLOAD\n${context.amzDate}\n${context.scope}\n${previousSignature}\n${EMPTY_SHA256}\n${dataHash}`;
  return crypto.createHmac('sha256', context.signingKey).update(stringToSign).digest('hex');
}

function checkSizes(decodedLength: number, chunkSize: number): void {
  if (!Number.isSafeInteger(decodedLength) || decodedLength < 0) {
    throw new RangeError(`decodedLength must be a non-negative integer, not ${decodedLength}`);
  }
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE) {
    throw new RangeError(`chunkSize must be an integer of at least ${MIN_CHUNK_SIZE}, not ${chunkSize}`);
  }
}

/**
 * Frames and signs as the bytes arrive. Each chunk is built in place in one buffer that
 * holds its header, data and trailing CRLF: incoming pieces are copied once, straight to
 * their place on the wire, and a full chunk is pushed as it is. When the reader is behind,
 * the rest of a large incoming piece waits (in `_read`) rather than being framed ahead, so
 * that memory stays at about two chunks whatever the size of the pieces written.
 */
class ChunkSigner extends Transform {
  private previousSignature: string;
  /** Where the data of a full chunk starts in `frame` (its header is written before it). */
  private readonly dataStart: number;
  private frame: Buffer;
  private filled = 0;
  private received = 0;
  private pending?: { piece: Buffer; offset: number; callback: TransformCallback };

  constructor(
    private readonly context: ChunkSigningContext,
    private readonly decodedLength: number,
    private readonly chunkSize: number,
  ) {
    // At most one framed chunk waits for the reader, on every Node (the default buffer is
    // 16 KiB on Node 20 and 64 KiB from Node 22 on).
    super({ readableHighWaterMark: chunkSize });
    this.previousSignature = context.seedSignature;
    this.dataStart = chunkSize.toString(16).length + SIGNATURE_LABEL.length + 64 + 2;
    this.frame = this.newFrame();
  }

  private newFrame(): Buffer {
    return Buffer.allocUnsafe(this.dataStart + this.chunkSize + 2);
  }

  override _transform(piece: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.received + piece.length > this.decodedLength) {
      callback(
        new Error(`the body runs past the ${this.decodedLength} bytes declared (x-amz-decoded-content-length)`),
      );
      return;
    }
    this.received += piece.length;
    this.pending = { piece, offset: 0, callback };
    this.copyPending();
  }

  /** Copies the pending piece into chunks, pausing whenever the reader wants no more. */
  private copyPending(): void {
    const pending = this.pending;
    if (!pending) return;
    const { piece } = pending;
    while (pending.offset < piece.length) {
      const n = Math.min(piece.length - pending.offset, this.chunkSize - this.filled);
      piece.copy(this.frame, this.dataStart + this.filled, pending.offset, pending.offset + n);
      pending.offset += n;
      this.filled += n;
      if (this.filled === this.chunkSize && !this.pushChunk()) {
        if (pending.offset < piece.length) return; // resumed by _read
      }
    }
    this.pending = undefined;
    pending.callback();
  }

  override _read(size: number): void {
    if (this.pending) this.copyPending();
    // Once the piece is done, Transform's own _read takes over: it lets the next piece in
    // (otherwise a piece finished here, with nothing pushed, would leave the stream waiting).
    if (!this.pending) super._read(size);
  }

  /** Signs and pushes the `filled` bytes in `frame` as one chunk; returns push's answer. */
  private pushChunk(): boolean {
    const size = this.filled;
    const end = this.dataStart + size;
    const signature = chunkSignature(
      this.context,
      this.previousSignature,
      this.frame.subarray(this.dataStart, end),
    );
    this.previousSignature = signature;
    const header = `${size.toString(16)}${SIGNATURE_LABEL}${signature}\r\n`;
    // A short last chunk has a shorter size field: its header ends where the data starts.
    const start = this.dataStart - header.length;
    this.frame.write(header, start, 'latin1');
    this.frame[end] = 0x0d;
    this.frame[end + 1] = 0x0a;
    const out = this.frame.subarray(start, end + 2);
    this.frame = this.newFrame();
    this.filled = 0;
    return this.push(out);
  }

  override _flush(callback: TransformCallback): void {
    if (this.received !== this.decodedLength) {
      callback(
        new Error(
          `the body ended after ${this.received} of the ${this.decodedLength} bytes declared (x-amz-decoded-content-length)`,
        ),
      );
      return;
    }
    if (this.filled > 0) this.pushChunk();
    const signature = chunkSignature(this.context, this.previousSignature, Buffer.alloc(0));
    this.push(Buffer.from(`0${SIGNATURE_LABEL}${signature}\r\n\r\n`, 'latin1'));
    callback();
  }
}

/** A Transform: payload bytes in, `aws-chunked` framed, each chunk signed with the previous chunk's signature, out. Errors if the input ends short of, or runs past, decodedLength. */
export function chunkSigner(
  context: ChunkSigningContext,
  options: { decodedLength: number; chunkSize?: number },
): Transform {
  const chunkSize = options.chunkSize ?? CHUNK_SIZE;
  checkSizes(options.decodedLength, chunkSize);
  return new ChunkSigner(context, options.decodedLength, chunkSize);
}

import { createHash } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { InputError } from '@backstage/errors';
import { PayloadTooLargeError } from './errors';
import { ByteBlocks } from './byteBlocks';

/**
 * True when the request carries a body (a Content-Length above zero, or chunked). Throws
 * for a transfer coding other than plain `chunked` (`gzip, chunked`, say): Node removes
 * only the chunked framing, so the body would be signed and sent still in the other coding,
 * with nothing to tell the upstream so.
 */
export function hasBody(req: IncomingMessage): boolean {
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
    throw new InputError(
      `Transfer-Encoding '${coding}' is not supported; send the body with a Content-Length or as plain chunked`,
    );
  }
  const length = req.headers['content-length'];
  if (length !== undefined) {
    return Number(length) > 0;
  }
  return req.headers['transfer-encoding'] !== undefined;
}

/** A request body held whole, as it arrived, so that it can be signed and sent (again). */
export interface BufferedBody {
  /**
   * The bytes in order, copied as they arrived into blocks of up to 64 KiB (see
   * {@link ByteBlocks}): memory is the body's length, however finely it was chunked, and the
   * body goes upstream in a few large writes.
   */
  chunks: Buffer[];
  length: number;
  /** Lower-case hex SHA-256 of the bytes: the payload hash the signature covers. */
  sha256: string;
}

function tooLarge(limit: number) {
  return new PayloadTooLargeError(
    `Request body is larger than this route's maxBodySize of ${limit} bytes; raise maxBodySize, or use unsignedPayload on an S3 route to stream it`,
  );
}

/**
 * Reads the whole request body, exactly as sent, hashing it as it arrives (a block at a time).
 * A declared Content-Length over the limit is refused before a byte is read; a chunked body
 * is refused as soon as it passes the limit, not after reading it all. Rejects when the
 * client goes away before the end.
 *
 * Read with 'data' events, not an async iterator: a body in 1-byte chunks is millions of
 * pieces, and a promise per piece costs more than the piece.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
): Promise<BufferedBody> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge(limit));
  }
  const hash = createHash('sha256');
  const blocks = new ByteBlocks(
    declared === undefined ? undefined : Number(declared),
    block => hash.update(block),
  );
  return new Promise((resolve, reject) => {
    const stop = () => {
      req.off('data', onData).off('end', onEnd).off('error', onGone).off('close', onGone);
    };
    function onData(chunk: Buffer) {
      if (blocks.length + chunk.length > limit) {
        // Stop reading, but keep the connection open, so that the 413 can still be sent.
        stop();
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      blocks.append(chunk);
    }
    function onEnd() {
      stop();
      const chunks = blocks.finish();
      resolve({ chunks, length: blocks.length, sha256: hash.digest('hex') });
    }
    function onGone() {
      stop();
      reject(Object.assign(new Error('The client closed the connection before the end of the body'), { code: 'ECONNRESET' }));
    }
    req.on('data', onData).once('end', onEnd).once('error', onGone).once('close', onGone);
  });
}

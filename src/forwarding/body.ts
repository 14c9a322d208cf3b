import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { InputError } from '@backstage/errors';
import { PayloadTooLargeError } from './errors';
import { ByteBlocks } from './byteBlocks';
import { encodedLength } from '../signing/chunkedPayload';

/**
 * True when the request carries a body (a Content-Length above zero, or chunked). Throws
 * for a transfer coding other than plain `chunked` (`gzip, chunked`, say): Node removes
 * only the chunked framing, so the body would be signed and sent still in the other coding,
 * with nothing to tell the upstream so.
 */
export function hasBody(req: Pick<IncomingMessage, 'headers'>): boolean {
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

function tooLarge(limit: number, s3: boolean) {
  return new PayloadTooLargeError(
    s3
      ? `Request body is larger than this route's maxBodySize of ${limit} bytes; raise maxBodySize, or send an upload (PutObject, UploadPart) with a Content-Length: above maxBodySize it streams chunk-signed, up to maxUploadSize`
      : `Request body is larger than this route's maxBodySize of ${limit} bytes; raise maxBodySize`,
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
  s3 = false,
): Promise<BufferedBody> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge(limit, s3));
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
        reject(tooLarge(limit, s3));
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

/** Methods that carry a body: always sent with a Content-Length, 0 when empty. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/** A request's body as it will be signed and sent. */
export interface PreparedBody {
  /** Buffered blocks (replayable), the request itself (streamed), or none. */
  body?: readonly Buffer[] | Readable;
  /** SHA-256 of a buffered body; undefined when streamed or none. */
  payloadHash?: string;
  /** Bytes buffered; undefined when streamed. */
  bufferedLength?: number;
  /**
   * Set when the body is to be sent chunk-signed as it arrives (the request is `body`): its
   * length as the caller sent it. The headers already describe the framing.
   */
  chunked?: { decodedLength: number };
}

/**
 * The query keys of the uploads S3 documents with a streaming signature: PutObject (none, or
 * the SDKs' `x-id`) and UploadPart (`partNumber`, `uploadId`). A PUT of a subresource
 * (`?lifecycle`, `?policy`, `?tagging`, ...) is small and stays hashed whole.
 */
const STREAMED_UPLOAD_QUERY: ReadonlySet<string> = new Set(['x-id', 'partNumber', 'uploadId']);

/**
 * An S3 upload the route sends chunk-signed: a PutObject or UploadPart of a known length
 * above `maxBodySize`. Returns its length. One that fits is buffered and hashed whole: that
 * costs less CPU (one hash, one write of the whole body; measured in the benchmark) and can
 * be sent again when S3 rejects expired credentials, which a stream cannot.
 */
function streamsChunkSigned(
  req: IncomingMessage,
  route: { service: string; maxBodySize: number },
  queryKeys: readonly string[],
): number | undefined {
  const declared = req.headers['content-length'];
  if (route.service !== 's3' || req.method !== 'PUT' || declared === undefined) return undefined;
  if (!queryKeys.every(key => STREAMED_UPLOAD_QUERY.has(key))) return undefined;
  const length = Number(declared);
  return length > route.maxBodySize ? length : undefined;
}

/** True when a Content-Encoding value names `aws-chunked` (framing only the proxy may choose). */
function namesAwsChunked(encoding: string | undefined): boolean {
  return encoding !== undefined && encoding.split(',').some(c => c.trim().toLowerCase() === 'aws-chunked');
}

/**
 * Reads or passes on the caller's body for a route, and sets `headers`' Content-Length to
 * match:
 * - a route with `unsignedPayload` streams it as it arrives (a Content-Length, if any,
 *   passes as sent);
 * - an S3 PutObject or UploadPart (`queryKeys`: the request's query parameter names) of a
 *   known length above `maxBodySize` streams it chunk-signed
 *   (`chunked`; see signing/chunkedPayload): Content-Encoding gains `aws-chunked`,
 *   x-amz-decoded-content-length is the caller's length and Content-Length the framed one;
 *   longer than the route's `maxUploadSize` is a 413 before a byte is read;
 * - any other reads it whole (see {@link readBody}) and sends it with its exact length, never
 *   chunked (S3 and others refuse chunked uploads), 0 for an empty POST, PUT or PATCH.
 * On S3 routes a caller's own `aws-chunked` Content-Encoding is a 400: the framing and its
 * signatures are the proxy's.
 */
export async function prepareBody(
  req: IncomingMessage,
  route: { unsignedPayload: boolean; maxBodySize: number; maxUploadSize: number; service: string; s3: boolean },
  headers: Record<string, string>,
  queryKeys: readonly string[] = [],
): Promise<PreparedBody> {
  if (route.s3 && namesAwsChunked(headers['content-encoding'])) {
    throw new InputError(
      'Content-Encoding aws-chunked is chosen by the proxy, which signs the chunks itself; send the plain body',
    );
  }
  const withBody = hasBody(req);
  if (withBody && route.unsignedPayload) {
    return { body: req };
  }
  const decodedLength = withBody ? streamsChunkSigned(req, route, queryKeys) : undefined;
  if (decodedLength !== undefined) {
    if (decodedLength > route.maxUploadSize) {
      throw new PayloadTooLargeError(
        route.maxUploadSize === route.maxBodySize
          ? `Upload is larger than this route's maxUploadSize of ${route.maxUploadSize} bytes (its maxBodySize: set maxUploadSize to stream larger uploads)`
          : `Upload is larger than this route's maxUploadSize of ${route.maxUploadSize} bytes`,
      );
    }
    const encoding = headers['content-encoding'];
    headers['content-encoding'] = encoding ? `aws-chunked,${encoding}` : 'aws-chunked';
    headers['x-amz-decoded-content-length'] = String(decodedLength);
    headers['content-length'] = String(encodedLength(decodedLength));
    return { body: req, chunked: { decodedLength } };
  }
  delete headers['content-length'];
  const buffered = withBody ? await readBody(req, route.maxBodySize, route.service === 's3') : undefined;
  if (buffered?.length || BODY_METHODS.has(req.method ?? '')) {
    headers['content-length'] = String(buffered?.length ?? 0);
  }
  return {
    body: buffered?.chunks,
    payloadHash: buffered?.sha256,
    bufferedLength: buffered?.length ?? 0,
  };
}

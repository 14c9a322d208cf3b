import { createHash } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { InputError } from '@backstage/errors';
import { PayloadTooLargeError } from './errors';

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
  /** The bytes as read from the caller, in order; never copied into one buffer. */
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
 * Reads the whole request body, exactly as sent, hashing it as it arrives. A declared
 * Content-Length over the limit is refused before a byte is read; a chunked body is refused
 * as soon as it passes the limit, not after reading it all.
 */
export async function readBody(
  req: IncomingMessage,
  limit: number,
): Promise<BufferedBody> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    throw tooLarge(limit);
  }
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  let length = 0;
  // destroyOnReturn: false keeps the connection open when we stop early, so that the
  // 413 can still be sent. A client that goes away makes the iterator throw.
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    length += (chunk as Buffer).length;
    if (length > limit) {
      throw tooLarge(limit);
    }
    hash.update(chunk as Buffer);
    chunks.push(chunk as Buffer);
  }
  return { chunks, length, sha256: hash.digest('hex') };
}

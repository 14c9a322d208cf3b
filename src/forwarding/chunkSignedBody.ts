import { IncomingMessage } from 'node:http';
import { pipeline, Readable } from 'node:stream';
import { ChunkSigningContext, chunkSigner } from '../signing/chunkedPayload';

/**
 * The caller's upload framed and signed chunk by chunk as it arrives (see
 * signing/chunkedPayload): what is sent upstream instead of the request itself. The caller
 * going away, or sending fewer or more bytes than its Content-Length said, fails the stream,
 * and with it the upstream request: a signed upload is never ended short.
 */
export function chunkSignedBody(
  req: IncomingMessage,
  chunks: ChunkSigningContext,
  decodedLength: number,
  /** Told the caller's payload bytes as they arrive (the audit's count, without framing). */
  onPayload?: (bytes: number) => void,
): Readable {
  const framed = chunkSigner(chunks, { decodedLength });
  if (onPayload) req.on('data', (piece: Buffer) => onPayload(piece.length));
  pipeline(req, framed, () => {
    // An error has already destroyed `framed` (pipeline does), which fails the upload.
  });
  return framed;
}

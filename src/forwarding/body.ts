import { IncomingMessage } from 'node:http';
import { PayloadTooLargeError } from './errors';

/** True when the request carries a body (a Content-Length above zero, or chunked). */
export function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) {
    return Number(length) > 0;
  }
  return req.headers['transfer-encoding'] !== undefined;
}

function tooLarge(limit: number) {
  return new PayloadTooLargeError(
    `Request body is larger than this route's maxBodySize of ${limit} bytes; raise maxBodySize, or use unsignedPayload on an S3 route to stream it`,
  );
}

/**
 * Reads the whole request body, exactly as sent, so that it can be hashed for the signature.
 * A declared Content-Length over the limit is refused before a byte is read; a chunked body
 * is refused as soon as it passes the limit, not after reading it all.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onClose = () => {
      if (!req.complete) {
        cleanup();
        reject(new Error('The client closed the connection before sending the whole body'));
      }
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

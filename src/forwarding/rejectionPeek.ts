import http from 'node:http';
import { ByteBlocks } from './byteBlocks';
import { Guard } from './guarded';
import {
  isRejectedCredentials,
  MAX_ERROR_BODY_BYTES,
} from '../credentials/rejectedCredentials';

/*
 * Reading an error answer before passing it on, to see whether it rejects the request's
 * credentials (see credentials/rejectedCredentials): then the request can be signed again.
 */

/** What a peek reports: `rejected` or `passOn` once, and `cutOff` whenever the answer is cut off. */
export interface PeekHandlers {
  /** A piece of the answer's body was read: the upstream is making progress. */
  progress(): void;
  /** The whole (small) body was read, and it rejects the credentials. */
  rejected(body: Buffer): void;
  /**
   * The answer is to be passed on, with the part of its body already read (`head`):
   * the whole of it (`complete`), or, for a body too large to be an error document, the
   * start, with the answer paused for the rest to be streamed.
   */
  passOn(head: Buffer, complete: boolean): void;
  /**
   * The answer closed before it was complete (the request emits no error for that); also
   * after `passOn`, when the rest being streamed is cut off: whether that is still the
   * peek's concern is the caller's to know.
   */
  cutOff(): void;
}

/**
 * Reads the (small) error document of `upRes` to see whether the credentials were
 * rejected. `guarded` wraps the listeners that may throw (see forwarding/guarded).
 */
export function peekRejection(
  upRes: http.IncomingMessage,
  guarded: Guard,
  handlers: PeekHandlers,
): void {
  const read = new ByteBlocks();
  const onEnd = guarded(() => {
    const body = Buffer.concat(read.finish());
    if (!isRejectedCredentials(upRes.statusCode, upRes.headers, body)) {
      handlers.passOn(body, true);
      return;
    }
    handlers.rejected(body);
  });
  const onData = guarded((chunk: Buffer) => {
    handlers.progress();
    read.append(chunk);
    if (read.length > MAX_ERROR_BODY_BYTES) {
      upRes.off('data', onData).off('end', onEnd).pause();
      handlers.passOn(Buffer.concat(read.finish()), false);
    }
  });
  upRes.on('data', onData).once('end', onEnd);
  upRes.once('close', () => {
    if (!upRes.complete) handlers.cutOff();
  });
}

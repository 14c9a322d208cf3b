import { Transform, TransformCallback } from 'node:stream';

/*
 * Passing a stream on in pieces of a useful size.
 *
 * A body that arrives in tiny pieces (an upload sent as 1-byte chunks, an upstream answering
 * a byte at a time) would otherwise be passed on a piece at a time: an object and a write per
 * byte, and on a chunked connection six bytes on the wire per byte of body.
 */

/** The largest batch; a piece at least this large when nothing waits is passed on as it is. */
export const BATCH_BYTES = 64 * 1024;
/** Pieces this large are not worth copying: they are passed on as they are, in order. */
const PASS_THROUGH_BYTES = 16 * 1024;

/**
 * Sees every batch before it is passed on, and may hold bytes back until the next one (see
 * forwarding/secretMask).
 */
export interface BatchFilter {
  /** Returns the bytes to pass on now; may keep the end of `batch` for later. */
  write(batch: Buffer): Buffer;
  /** Returns what was kept back; called once, at the end of the stream. */
  end(): Buffer;
}

/**
 * A Transform that copies small pieces into one batch and passes the batch on at the end of
 * the current turn of the event loop (or once it holds {@link BATCH_BYTES}). What arrives
 * together leaves together; nothing waits for more bytes to come, so a streamed answer (server
 * events, Bedrock's event stream) is not delayed. Memory is one batch, whatever the pieces.
 */
export class Coalescer extends Transform {
  private batch: Buffer | undefined;
  private used = 0;
  private flushTimer: NodeJS.Immediate | undefined;

  constructor(private readonly batchFilter?: BatchFilter) {
    super();
  }

  _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length >= PASS_THROUGH_BYTES) {
      this.flushBatch();
      this.pass(chunk);
      callback();
      return;
    }
    let offset = 0;
    while (offset < chunk.length) {
      this.batch ??= Buffer.allocUnsafe(BATCH_BYTES);
      const copied = chunk.copy(this.batch, this.used, offset);
      this.used += copied;
      offset += copied;
      if (this.used === BATCH_BYTES) {
        this.flushBatch();
      }
    }
    if (this.used > 0 && !this.flushTimer) {
      this.flushTimer = setImmediate(() => {
        this.flushTimer = undefined;
        this.flushBatch();
      });
    }
    callback();
  }

  _flush(callback: TransformCallback): void {
    this.flushBatch();
    const rest = this.batchFilter?.end();
    if (rest?.length) this.push(rest);
    callback();
  }

  _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.clearTimer();
    this.batch = undefined;
    callback(error);
  }

  private clearTimer() {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
  }

  /** Passes on what the batch holds. A small batch is copied out, the buffer kept for the next. */
  private flushBatch() {
    this.clearTimer();
    if (!this.batch || this.used === 0 || this.destroyed) return;
    let out: Buffer;
    if (this.used >= BATCH_BYTES / 2) {
      out = this.batch.subarray(0, this.used);
      this.batch = undefined;
    } else {
      out = Buffer.allocUnsafe(this.used);
      this.batch.copy(out, 0, 0, this.used);
    }
    this.used = 0;
    this.pass(out);
  }

  private pass(bytes: Buffer) {
    const out = this.batchFilter ? this.batchFilter.write(bytes) : bytes;
    if (out.length) this.push(out);
  }
}

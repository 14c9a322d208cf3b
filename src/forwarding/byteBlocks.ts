/*
 * Holding bytes that arrive in pieces of any size at the cost of the bytes alone.
 *
 * Node hands a body over in the pieces it was framed in: a chunked body sent as 1-byte chunks
 * arrives as millions of 1-byte Buffers, each an object of its own (and a view that keeps the
 * socket's read buffer alive). Kept as they came, 1 MB of them cost about 357 MB. Copied into
 * blocks, they cost their bytes.
 */

/** The largest block: big enough that a body costs a few objects per megabyte. */
export const MAX_BLOCK_BYTES = 64 * 1024;
/** The first block of a body of unknown length; the next ones double up to the largest. */
const FIRST_BLOCK_BYTES = 1024;

/**
 * Bytes copied, as they arrive, into blocks of at most {@link MAX_BLOCK_BYTES}. Memory is the
 * bytes plus at most one block that is not full yet: with an expected length, the blocks add up
 * to exactly that length (and are allocated only as the bytes arrive, so that a length declared
 * but never sent costs nothing); without one, each block is as large as what came before it,
 * so at most the bytes so far again, and never more than {@link MAX_BLOCK_BYTES} again.
 */
export class ByteBlocks {
  private readonly sealed: Buffer[] = [];
  private current: Buffer | undefined;
  private used = 0;
  /** Bytes appended so far. */
  length = 0;

  /**
   * @param expected - the length announced for the bytes (a Content-Length), if any
   * @param onBlock - receives each block once it is full, and the last one on {@link finish}
   *   (to hash the bytes as they arrive, a block at a time rather than a piece at a time)
   */
  constructor(
    private readonly expected?: number,
    private readonly onBlock?: (block: Buffer) => void,
  ) {}

  append(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (!this.current) {
        this.current = Buffer.allocUnsafe(this.nextBlockSize());
        this.used = 0;
      }
      const copied = chunk.copy(this.current, this.used, offset);
      this.used += copied;
      offset += copied;
      this.length += copied;
      if (this.used === this.current.length) {
        this.seal(this.current);
      }
    }
  }

  /** The bytes, in blocks, in order; nothing may be appended after. */
  finish(): Buffer[] {
    if (this.current && this.used > 0) {
      this.seal(this.current.subarray(0, this.used));
    }
    this.current = undefined;
    return this.sealed;
  }

  private seal(block: Buffer) {
    this.sealed.push(block);
    this.current = undefined;
    this.onBlock?.(block);
  }

  private nextBlockSize(): number {
    const remaining = this.expected === undefined ? 0 : this.expected - this.length;
    if (remaining > 0) {
      return Math.min(MAX_BLOCK_BYTES, remaining);
    }
    return Math.min(MAX_BLOCK_BYTES, Math.max(FIRST_BLOCK_BYTES, this.length));
  }
}

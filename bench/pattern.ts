/*
 * The load test's bodies: a 64 KiB block of fixed pseudo-random bytes, repeated, started at
 * an offset given by a per-request seed. So each body is checked byte for byte without being
 * kept, and a body that went to the wrong request, lost or repeated a chunk, or was cut short
 * does not match.
 */
const SIZE = 64 * 1024;

/** The block twice over, so that any SIZE-long window is one subarray (no copy). */
const DOUBLE = (() => {
  const block = Buffer.alloc(SIZE);
  let x = 0x9e3779b9;
  for (let i = 0; i < SIZE; i++) {
    // xorshift32
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block[i] = x & 0xff;
  }
  return Buffer.concat([block, block]);
})();

/** `length` (at most 64 KiB) bytes of the seeded pattern from `offset`; shares memory. */
export function patternChunk(seed: number, offset: number, length: number): Buffer {
  if (length > SIZE) throw new Error(`patternChunk: ${length} > ${SIZE}`);
  const start = (offset + seed) % SIZE;
  return DOUBLE.subarray(start, start + length);
}

/** Checks a body against the seeded pattern as it arrives. */
export class PatternChecker {
  /** Bytes seen so far. */
  length = 0;
  /** The offset of the first byte that did not match, if any. */
  mismatchAt: number | undefined;

  constructor(private readonly seed: number) {}

  update(chunk: Buffer) {
    for (let done = 0; done < chunk.length && this.mismatchAt === undefined; ) {
      const n = Math.min(SIZE, chunk.length - done);
      const got = chunk.subarray(done, done + n);
      const expected = patternChunk(this.seed, this.length + done, n);
      if (!got.equals(expected)) {
        let i = 0;
        while (got[i] === expected[i]) i++;
        this.mismatchAt = this.length + done + i;
      }
      done += n;
    }
    this.length += chunk.length;
  }
}

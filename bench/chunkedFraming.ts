/*
 * The bench upstream's reading of an `aws-chunked` body (a chunk-signed upload,
 * STREAMING-AWS4-HMAC-SHA256-PAYLOAD): the framing is checked as it streams, the payload
 * counted, the signatures NOT checked. Checking them costs a SHA-256 of every byte and an
 * HMAC per chunk in the upstream, which shares the machine's cores with the proxies it
 * measures; the tests check every chunk's signature (localAws/chunkedVerifier.ts), and the
 * load test's upstream does too (bench/loadUpstream.ts). What this catches: a body framed
 * wrong, cut short or run long, whose payload is not the length the headers declare; the
 * upstream answers it with a 400, and the benchmark stops.
 *
 * Each data byte is skipped by counting, never scanned: only the chunk headers (about 90
 * bytes per 64 KiB) are read.
 */

/** `<hex size>;chunk-signature=<64 hex>`: the CRLF comes after it. */
const HEADER = /^([0-9a-f]{1,15});chunk-signature=[0-9a-f]{64}$/i;
/** Longer than any header: a line past it is not a chunk header. */
const MAX_HEADER = 100;

export class ChunkedFraming {
  /** Payload bytes so far. */
  decoded = 0;
  /** Chunks so far, the final 0-size one included. */
  chunks = 0;
  /** Set at the first framing error; nothing is read after it. */
  error?: string;
  private header = '';
  /** Payload bytes of the current chunk not yet seen. */
  private left = 0;
  /** What the next bytes must be. */
  private state: 'header' | 'data' | 'crlf' | 'done' = 'header';
  /** Of the CRLF that ends a chunk's data (or, after the 0-size chunk, the body). */
  private crlfSeen = 0;
  private final = false;

  /** Reads the next piece of the body as it arrived. */
  update(piece: Buffer): void {
    let i = 0;
    while (i < piece.length && !this.error) {
      if (this.state === 'data') {
        const n = Math.min(this.left, piece.length - i);
        this.left -= n;
        this.decoded += n;
        i += n;
        if (this.left === 0) this.state = 'crlf';
      } else if (this.state === 'crlf') {
        if (piece[i] !== (this.crlfSeen === 0 ? 0x0d : 0x0a)) {
          this.error = `chunk ${this.chunks}: no CRLF after its data`;
          return;
        }
        i++;
        if (++this.crlfSeen === 2) {
          this.crlfSeen = 0;
          this.state = this.final ? 'done' : 'header';
        }
      } else if (this.state === 'header') {
        const end = piece.indexOf(0x0a, i);
        const upTo = end < 0 ? piece.length : end + 1;
        this.header += piece.toString('latin1', i, upTo);
        i = upTo;
        if (end >= 0) this.readHeader();
        else if (this.header.length > MAX_HEADER) this.error = `chunk ${this.chunks + 1}: header too long`;
      } else {
        this.error = `bytes after the final 0-size chunk`;
      }
    }
  }

  private readHeader() {
    const line = this.header;
    this.header = '';
    const m = line.endsWith('\r\n') ? HEADER.exec(line.slice(0, -2)) : null;
    if (!m) {
      this.error = `chunk ${this.chunks + 1}: malformed header ${JSON.stringify(line.slice(0, 40))}`;
      return;
    }
    this.chunks++;
    this.left = parseInt(m[1], 16);
    this.final = this.left === 0;
    // The final chunk has no data; its CRLF ends the body.
    this.state = this.final ? 'crlf' : 'data';
  }

  /** Why the body, now ended, is not a whole aws-chunked body of `declared` payload bytes; undefined when it is. */
  finish(declared: number): string | undefined {
    if (this.error) return this.error;
    if (this.state !== 'done') return `the body ended inside chunk ${this.chunks} (no final 0-size chunk)`;
    if (this.decoded !== declared) {
      return `${this.decoded} payload bytes, but x-amz-decoded-content-length says ${declared}`;
    }
    return undefined;
  }
}

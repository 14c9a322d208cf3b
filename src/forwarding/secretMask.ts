import { OutgoingHttpHeaders } from 'node:http';
import { BatchFilter } from './coalesce';
import { echoedForms } from '../credentials/redact';

/*
 * Keeping the request's session token out of the answer the caller gets.
 *
 * An upstream may echo what it was sent: S3's SignatureDoesNotMatch error carries the
 * canonical request, with the x-amz-security-token value, and any service or application may
 * reflect a request header. The token is a secret of the route, never the caller's.
 */

/** What each byte of a secret becomes: the answer keeps its length (and its Content-Length). */
export const MASK_CHAR = '*';

/** The KMP failure table of `pattern`: for each prefix, its longest proper border. */
function borders(pattern: Buffer): Int32Array {
  const table = new Int32Array(pattern.length);
  let k = 0;
  for (let i = 1; i < pattern.length; i++) {
    while (k > 0 && pattern[i] !== pattern[k]) k = table[k - 1];
    if (pattern[i] === pattern[k]) k++;
    table[i] = k;
  }
  return table;
}

interface Pattern {
  bytes: Buffer;
  text: string;
  borders: Int32Array;
}

/**
 * Replaces a secret, in each of its echoed forms, by as many {@link MASK_CHAR}s, in a stream
 * of batches (a {@link BatchFilter}) and in response headers.
 *
 * Across batches: the end of a batch that could be the start of a form (and only that, so at
 * most the form's length less one, and usually nothing: a streamed event ends in a newline,
 * which no form starts with) is held back and searched again with the next batch. Linear time:
 * whole forms are found with `Buffer.indexOf` (V8's string search, which falls back to
 * Boyer-Moore with the good-suffix rule where a simpler search would do badly), resumed after
 * each match; the held-back end is found with the KMP automaton over the last bytes only.
 */
export class SecretMask implements BatchFilter {
  private readonly patterns: Pattern[];
  private held: Buffer = Buffer.alloc(0);

  /** A mask for `secret`, or undefined when there is none (static credentials carry no token). */
  static of(secret: string | undefined): SecretMask | undefined {
    return secret ? new SecretMask(secret) : undefined;
  }

  private constructor(secret: string) {
    this.patterns = echoedForms(secret).map(text => {
      const bytes = Buffer.from(text, 'latin1');
      return { bytes, text, borders: borders(bytes) };
    });
  }

  /** Masks every whole form in `batch` and passes on all but a possible start of one. */
  write(batch: Buffer): Buffer {
    const text = this.held.length ? Buffer.concat([this.held, batch]) : batch;
    const masked = this.maskAll(text);
    const keep = this.possibleStart(masked);
    // Copied, so that a small tail does not keep a large batch alive.
    this.held = Buffer.from(masked.subarray(masked.length - keep));
    return masked.subarray(0, masked.length - keep);
  }

  /** The held-back end: at the end of the stream it was not a secret after all. */
  end(): Buffer {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    return rest;
  }

  /** `bytes` with every form masked: the same buffer when there was none, else a copy. */
  maskAll(bytes: Buffer): Buffer {
    let out = bytes;
    for (const { bytes: form } of this.patterns) {
      for (let at = bytes.indexOf(form); at !== -1; at = bytes.indexOf(form, at + form.length)) {
        if (out === bytes) out = Buffer.from(bytes);
        out.fill(MASK_CHAR, at, at + form.length);
      }
    }
    return out;
  }

  /** `text` with every form masked. */
  maskString(text: string): string {
    let out = text;
    for (const { text: form } of this.patterns) {
      if (out.includes(form)) out = out.split(form).join(MASK_CHAR.repeat(form.length));
    }
    return out;
  }

  /**
   * Masks response headers in place: values, and names too (Node lower-cases them, so they
   * are compared in lower case), since the upstream chooses both.
   */
  maskHeaders(headers: OutgoingHttpHeaders): void {
    for (const [name, value] of Object.entries(headers)) {
      const safeName = this.maskName(name);
      let safeValue = value;
      if (typeof value === 'string') safeValue = this.maskString(value);
      else if (Array.isArray(value)) safeValue = value.map(v => this.maskString(v));
      if (safeName !== name) delete headers[name];
      headers[safeName] = safeValue;
    }
  }

  private maskName(name: string): string {
    let out = name;
    for (const { text } of this.patterns) {
      const form = text.toLowerCase();
      if (out.includes(form)) out = out.split(form).join(MASK_CHAR.repeat(form.length));
    }
    return out;
  }

  /** The length of the longest end of `bytes` that is the start of a form (shorter than it). */
  private possibleStart(bytes: Buffer): number {
    let longest = 0;
    for (const { bytes: form, borders: table } of this.patterns) {
      const window = Math.min(bytes.length, form.length - 1);
      // A start of the form begins with its first byte: skip to the first candidate.
      let i = bytes.indexOf(form[0], bytes.length - window);
      if (i === -1) continue;
      let k = 0;
      for (; i < bytes.length; i++) {
        while (k > 0 && bytes[i] !== form[k]) k = table[k - 1];
        if (bytes[i] === form[k]) k++;
      }
      longest = Math.max(longest, k);
    }
    return longest;
  }
}

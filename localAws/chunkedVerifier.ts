/*
 * Checks an `aws-chunked` body of a streaming signed upload (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)
 * as S3 would: written from the S3 API reference ("Signature Calculations for the
 * Authorization Header: Transferring Payload in Multiple Chunks"), apart from the plugin's
 * chunk signer (nothing of src/ is imported; the signing key is derived here from the secret),
 * so that the tests do not prove the signer by agreeing with itself. Strict: any framing S3
 * would refuse is refused, with the chunk it concerns. Not part of the plugin.
 */
import crypto from 'node:crypto';

/** S3's smallest chunk but the last data chunk. */
export const MIN_CHUNK_BYTES = 8 * 1024;

const EMPTY_SHA256 = crypto.createHash('sha256').update('').digest('hex');
const HEADER = /^([0-9a-fA-F]{1,15});chunk-signature=([0-9a-f]{64})$/;
/** Longest chunk header worth looking for a CRLF in (size, label, signature). */
const MAX_HEADER_BYTES = 15 + ';chunk-signature='.length + 64;

export interface ChunkedBody {
  /** The body exactly as it arrived. */
  wire: Buffer;
  secretAccessKey: string;
  /** The request's x-amz-date, yyyymmddThhmmssZ. */
  amzDate: string;
  /** The credential scope of the request: yyyymmdd/region/service/aws4_request. */
  scope: string;
  /** The request's signature (Authorization's `Signature=`), which the first chunk chains from. */
  seedSignature: string;
  /** The request's x-amz-decoded-content-length. */
  decodedLength: number;
}

export type ChunkedBodyCheck =
  | { payload: Buffer; chunks: number; chunkSizes: number[] }
  | {
      error: string;
      /** S3's error code for it: SignatureDoesNotMatch, InvalidChunkSizeError, IncompleteBody, ... */
      code: string;
    };

function hmac(key: crypto.BinaryLike, data: string): Buffer {
  return crypto.createHmac('sha256', key).update(data).digest();
}

/** The SigV4 signing key for a scope, from the secret (SigV4's own derivation). */
function signingKeyOf(secretAccessKey: string, scope: string): Buffer | undefined {
  const parts = scope.split('/');
  if (parts.length !== 4 || !/^\d{8}$/.test(parts[0]) || parts[3] !== 'aws4_request') return undefined;
  const [date, region, service] = parts;
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), 'aws4_request');
}

/**
 * Verifies every chunk of `wire` and returns the payload, or why S3 would refuse the body
 * (which chunk, counted from 1, and what is wrong with it).
 */
export function verifyChunkedBody(body: ChunkedBody): ChunkedBodyCheck {
  const { wire, amzDate, scope, decodedLength } = body;
  const key = signingKeyOf(body.secretAccessKey, scope);
  if (!key) return { error: `malformed credential scope ${scope}`, code: 'AuthorizationHeaderMalformed' };
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || !amzDate.startsWith(scope.slice(0, 8))) {
    return { error: `x-amz-date ${amzDate} does not match the scope ${scope}`, code: 'AuthorizationHeaderMalformed' };
  }
  if (!Number.isSafeInteger(decodedLength) || decodedLength < 0) {
    return { error: `x-amz-decoded-content-length ${decodedLength} is not a length`, code: 'InvalidArgument' };
  }
  if (decodedLength > wire.length) {
    return { error: `x-amz-decoded-content-length ${decodedLength} is more than the ${wire.length} bytes that arrived`, code: 'IncompleteBody' };
  }
  const payload = Buffer.allocUnsafe(decodedLength);
  const chunkSizes: number[] = [];
  let previous = body.seedSignature;
  let total = 0;
  let pos = 0;
  for (let n = 1; ; n++) {
    if (pos === wire.length) {
      return { error: `the body ends after chunk ${n - 1} without the final 0-size chunk`, code: 'IncompleteBody' };
    }
    const found = wire.subarray(pos, pos + MAX_HEADER_BYTES + 2).indexOf('\r\n', 0, 'latin1');
    const lineEnd = pos + found;
    if (found < 0) {
      return { error: `chunk ${n}: no CRLF-terminated header "<hex size>;chunk-signature=<signature>"`, code: 'InvalidChunkSizeError' };
    }
    const header = wire.toString('latin1', pos, lineEnd);
    const m = HEADER.exec(header);
    if (!m) {
      return { error: `chunk ${n}: malformed header ${JSON.stringify(header.slice(0, 100))}`, code: 'InvalidChunkSizeError' };
    }
    const size = parseInt(m[1], 16);
    const signature = m[2];
    const dataStart = lineEnd + 2;
    const dataEnd = dataStart + size;
    if (dataEnd + 2 > wire.length) {
      return { error: `chunk ${n}: declares ${size} bytes, but only ${Math.max(0, wire.length - dataStart)} bytes of body follow its header`, code: 'IncompleteBody' };
    }
    if (wire[dataEnd] !== 0x0d || wire[dataEnd + 1] !== 0x0a) {
      return { error: `chunk ${n}: its ${size} bytes of data are not followed by CRLF`, code: 'IncompleteBody' };
    }
    const data = wire.subarray(dataStart, dataEnd);
    const stringToSign = [
      'AWS4-HMAC-SHA256-PAYLOAD',
      amzDate,
      scope,
      previous,
      EMPTY_SHA256,
      crypto.createHash('sha256').update(data).digest('hex'),
    ].join('\n');
    const expected = hmac(key, stringToSign).toString('hex');
    if (expected !== signature) {
      return {
        error: `chunk ${n} (${size} bytes): chunk-signature does not match (expected the signature chained from ${n === 1 ? 'the seed signature' : `chunk ${n - 1}`}); its string to sign:\n${stringToSign}`,
        code: 'SignatureDoesNotMatch',
      };
    }
    previous = signature;
    pos = dataEnd + 2;
    if (size === 0) {
      if (pos !== wire.length) {
        return { error: `${wire.length - pos} bytes follow the final 0-size chunk (chunk ${n})`, code: 'InvalidRequest' };
      }
      break;
    }
    const last = chunkSizes[chunkSizes.length - 1];
    if (last !== undefined && last < MIN_CHUNK_BYTES) {
      return { error: `chunk ${n - 1} has ${last} bytes: under ${MIN_CHUNK_BYTES}, yet it is not the last data chunk`, code: 'InvalidChunkSizeError' };
    }
    if (total + size > decodedLength) {
      return { error: `chunk ${n}: the chunks carry more than the ${decodedLength} bytes of x-amz-decoded-content-length`, code: 'IncompleteBody' };
    }
    data.copy(payload, total);
    total += size;
    chunkSizes.push(size);
  }
  if (total !== decodedLength) {
    return { error: `the chunks carry ${total} bytes, x-amz-decoded-content-length says ${decodedLength}`, code: 'IncompleteBody' };
  }
  return { payload, chunks: chunkSizes.length + 1, chunkSizes };
}

import { createScope, getSigningKey, SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { AwsCredentialIdentity, HeaderBag, HttpRequest } from '@smithy/types';
import { SigningTrace, TracingSignatureV4 } from './signingTrace';
import { formatCanonicalQuery } from '../endpoint/canonical';
import { ChunkSigningContext, STREAMING_PAYLOAD } from './chunkedPayload';

/** SHA-256 in the shape the signer takes (the same binding the AWS SDK uses on Node). */
const Sha256 = Hash.bind(null, 'sha256');

/** The value of x-amz-content-sha256 for a streamed S3 body. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
/** SHA-256 of no bytes: the payload hash of a request without a body. */
export const EMPTY_SHA256 =
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const CONTENT_SHA256 = 'x-amz-content-sha256';
const NOT_SIGNED_AS_HEADER = new Set([CONTENT_SHA256]);

/** What a route signs for. */
export interface SigningScope {
  service: string;
  region: string;
  /** S3 rules: the path is signed as sent (encoded once, never normalised). */
  s3: boolean;
}

/** Receives what was computed for each request, on routes with `debug: true`. */
export type TraceListener = (trace: SigningTrace) => void;

/** One request, as it will go on the wire. */
export interface RequestToSign {
  method: string;
  protocol: 'http:' | 'https:';
  hostname: string;
  port?: number;
  /** Canonical wire path (see endpoint/canonical). */
  path: string;
  /**
   * Decoded query parameters, whose canonical form (endpoint/canonical's
   * formatCanonicalQuery) is the wire query.
   */
  query: Record<string, string | string[]>;
  /** Lower-case header names; must include `host`. */
  headers: Record<string, string>;
  /**
   * Lower-case hex SHA-256 of the whole body (hashed as it was read, see
   * forwarding/body), or undefined for none. Ignored with `unsignedPayload`.
   */
  payloadHash?: string;
  /** Stream the body and sign it as UNSIGNED-PAYLOAD (S3 only). */
  unsignedPayload?: boolean;
  /**
   * Stream the body signed chunk by chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, S3 only):
   * the headers must already say `content-encoding: aws-chunked`, the decoded and the
   * encoded length (see forwarding/body).
   */
  streamingPayload?: boolean;
}

/** A request signed for a chunk-signed body: its headers, and what signs its chunks. */
export interface StreamingSigned {
  headers: Record<string, string>;
  chunks: ChunkSigningContext;
}

/** The access key id that signed a request, read back from its Authorization header. */
export function signingAccessKeyId(headers: Record<string, string>): string | undefined {
  return /Credential=([^/,\s]+)\//.exec(headers.authorization ?? '')?.[1];
}

/**
 * A canonical request as `@smithy/signature-v4` built it, with its query line (the third:
 * METHOD \n path \n query \n headers...; neither the method nor the escaped path holds a
 * line break) replaced by `query`. `emptyBefore`: smithy was handed no query, so the line
 * must be empty. Throws for a canonical request of another shape (a later smithy that builds
 * it differently): nothing is signed then, rather than something other than what is sent.
 */
export function withCanonicalQuery(built: string, query: string, emptyBefore: boolean): string {
  const afterMethod = built.indexOf('\n');
  const afterPath = afterMethod < 0 ? -1 : built.indexOf('\n', afterMethod + 1);
  const afterQuery = afterPath < 0 ? -1 : built.indexOf('\n', afterPath + 1);
  if (afterQuery < 0 || (emptyBefore && afterQuery !== afterPath + 1)) {
    throw new Error('@smithy/signature-v4 built an unexpected canonical request');
  }
  return built.slice(0, afterPath + 1) + query + built.slice(afterQuery);
}

/**
 * The one place that works around `@smithy/signature-v4`'s query handling, which is
 * quadratic (measured on this 2-core machine, smithy 5.7 / @smithy/core 3.41: 1,000 distinct
 * keys 93 ms, 2,000 keys 0.4 s, 5,000 keys 7 s with the event loop blocked throughout; 20,000
 * values of one key 3.5 s):
 * - `HttpRequest.clone` (called by every `sign`) copies the query with a spread inside
 *   `reduce` (`cloneQuery` in @smithy/core): quadratic in distinct keys;
 * - its canonical query joins a repeated key's values with `concat` inside `reduce`:
 *   quadratic in values.
 * This signer is therefore handed no query at all, and puts the route's canonical query
 * string (built once, in O(n log n), by formatCanonicalQuery: the very string that is sent)
 * into the canonical request smithy builds, on the line smithy leaves empty for it. Nothing
 * global is patched: the instance signs one request, and only through this class.
 */
export class CanonicalQuerySignatureV4 extends TracingSignatureV4 {
  constructor(
    init: ConstructorParameters<typeof SignatureV4>[0],
    private readonly canonicalQueryString: string,
  ) {
    super(init);
  }

  // The hook smithy's signRequest calls to build the canonical request it hashes.
  protected override createCanonicalRequest(
    request: HttpRequest,
    canonicalHeaders: HeaderBag,
    payloadHash: string,
  ): string {
    const built = super.createCanonicalRequest(request, canonicalHeaders, payloadHash);
    // The query line is empty: the signer got no query.
    return withCanonicalQuery(built, this.canonicalQueryString, true);
  }
}

/**
 * Signs requests for one route with `@smithy/signature-v4`. Each request gets a signer of
 * its own ({@link CanonicalQuerySignatureV4}, which carries that request's query); smithy's
 * signing-key cache (per credentials, day, region and service) is shared by all of them.
 * Credentials come per call from the route's cached provider. Work per request is linear
 * in its size (the query's sort aside).
 */
export class RouteSigner {
  private readonly init: ConstructorParameters<typeof SignatureV4>[0];
  private readonly sendsContentSha256: boolean;

  constructor(
    private readonly scope: SigningScope,
    private readonly credentials: () => Promise<AwsCredentialIdentity>,
  ) {
    // S3 and OpenSearch Serverless require x-amz-content-sha256; other services neither need nor expect it.
    this.sendsContentSha256 = scope.s3 || scope.service === 'aoss';
    this.init = {
      service: scope.service,
      region: scope.region,
      credentials,
      sha256: Sha256,
      uriEscapePath: !scope.s3,
      applyChecksum: this.sendsContentSha256,
    };
  }

  /**
   * Returns the headers to send: the given ones plus x-amz-date, the token, authorization,
   * and for S3 and OpenSearch Serverless the payload hash.
   *
   * @param onTrace - given for a route with `debug: true`: receives the canonical request
   *   and string to sign the signer computed.
   * @param credentials - the credentials of this request's caller (`sessionPerCaller`),
   *   instead of the route's.
   */
  async sign(
    request: RequestToSign,
    onTrace?: TraceListener,
    credentials?: () => Promise<AwsCredentialIdentity>,
  ): Promise<Record<string, string>> {
    return this.signWith(request, credentials ?? this.credentials, onTrace);
  }

  /**
   * Signs a request whose body is sent chunk by chunk (`streamingPayload`), and returns, with
   * its headers, what signs the chunks: the signing key of the very credentials that signed
   * the headers (fetched once here, so a refresh in between cannot split them), the date,
   * the scope and the seed signature.
   */
  async signStreaming(
    request: RequestToSign,
    onTrace?: TraceListener,
    credentials?: () => Promise<AwsCredentialIdentity>,
  ): Promise<StreamingSigned> {
    const identity = await (credentials ?? this.credentials)();
    const headers = await this.signWith(
      { ...request, streamingPayload: true },
      async () => identity,
      onTrace,
    );
    const amzDate = headers['x-amz-date'];
    const seedSignature = /Signature=([0-9a-f]{64})$/.exec(headers.authorization ?? '')?.[1];
    if (!amzDate || !seedSignature) {
      throw new Error('@smithy/signature-v4 signed without x-amz-date or a signature');
    }
    const shortDate = amzDate.slice(0, 8);
    const { region, service } = this.scope;
    return {
      headers,
      chunks: {
        signingKey: await getSigningKey(Sha256, identity, shortDate, region, service),
        amzDate,
        scope: createScope(shortDate, region, service),
        seedSignature,
      },
    };
  }

  private async signWith(
    request: RequestToSign,
    credentials: () => Promise<AwsCredentialIdentity>,
    onTrace?: TraceListener,
  ): Promise<Record<string, string>> {
    // The signer takes a payload hash given as x-amz-content-sha256 instead of hashing a
    // body itself. Services other than S3 and aoss get the hash in the signature only:
    // the header is neither signed nor sent.
    let payload = request.payloadHash ?? EMPTY_SHA256;
    if (request.unsignedPayload) payload = UNSIGNED_PAYLOAD;
    if (request.streamingPayload) payload = STREAMING_PAYLOAD;
    const headers = { ...request.headers, [CONTENT_SHA256]: payload };
    const signer = new CanonicalQuerySignatureV4(
      { ...this.init, credentials },
      formatCanonicalQuery(request.query),
    );
    const signed = await signer.sign(
      {
        method: request.method,
        protocol: request.protocol,
        hostname: request.hostname,
        port: request.port,
        path: request.path,
        // Never the query itself: see CanonicalQuerySignatureV4.
        query: {},
        headers,
      },
      this.sendsContentSha256 ? {} : { unsignableHeaders: NOT_SIGNED_AS_HEADER },
    );
    const sent = signed.headers as Record<string, string>;
    if (!this.sendsContentSha256) {
      delete sent[CONTENT_SHA256];
    }
    if (onTrace) {
      try {
        onTrace(signer.trace(signingAccessKeyId(sent) ?? '?'));
      } catch {
        // Debug output never fails the request it describes; the headers are signed.
      }
    }
    return sent;
  }
}

import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { AwsCredentialIdentity } from '@smithy/types';
import { SigningTrace, TracingSignatureV4 } from './signingTrace';

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
  /** Decoded query parameters, whose canonical form is the wire query. */
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
}

/** The access key id that signed a request, read back from its Authorization header. */
export function signingAccessKeyId(headers: Record<string, string>): string | undefined {
  return /Credential=([^/,\s]+)\//.exec(headers.authorization ?? '')?.[1];
}

/**
 * Signs requests for one route with `@smithy/signature-v4`. The signer instance is kept for
 * the route's lifetime, so its signing-key cache (per credentials, day, region, service)
 * is reused; credentials come per call from the route's cached provider.
 */
export class RouteSigner {
  private readonly signer: SignatureV4;
  private readonly init: ConstructorParameters<typeof SignatureV4>[0];
  private readonly sendsContentSha256: boolean;

  constructor(
    scope: SigningScope,
    credentials: () => Promise<AwsCredentialIdentity>,
  ) {
    // The credentials provider is the route's shared cache; the signer adds its own
    // signing-key cache, per credentials, day, region and service.
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
    this.signer = new SignatureV4(this.init);
  }

  /**
   * Returns the headers to send: the given ones plus x-amz-date, the token, authorization,
   * and for S3 and OpenSearch Serverless the payload hash.
   *
   * @param onTrace - given for a route with `debug: true`: the request is then signed by a
   *   signer of its own that keeps the canonical request and string to sign, and this
   *   receives them.
   */
  async sign(
    request: RequestToSign,
    onTrace?: TraceListener,
  ): Promise<Record<string, string>> {
    // The signer takes a payload hash given as x-amz-content-sha256 instead of hashing a
    // body itself. Services other than S3 and aoss get the hash in the signature only:
    // the header is neither signed nor sent.
    const headers = {
      ...request.headers,
      [CONTENT_SHA256]: request.unsignedPayload
        ? UNSIGNED_PAYLOAD
        : request.payloadHash ?? EMPTY_SHA256,
    };
    const tracing = onTrace && new TracingSignatureV4(this.init);
    const signed = await (tracing ?? this.signer).sign(
      {
        method: request.method,
        protocol: request.protocol,
        hostname: request.hostname,
        port: request.port,
        path: request.path,
        query: request.query,
        headers,
      },
      this.sendsContentSha256 ? {} : { unsignableHeaders: NOT_SIGNED_AS_HEADER },
    );
    const sent = signed.headers as Record<string, string>;
    if (!this.sendsContentSha256) {
      delete sent[CONTENT_SHA256];
    }
    if (tracing) {
      try {
        onTrace!(tracing.trace(signingAccessKeyId(sent) ?? '?'));
      } catch {
        // Debug output never fails the request it describes; the headers are signed.
      }
    }
    return sent;
  }
}

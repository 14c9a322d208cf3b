import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { AwsCredentialIdentity } from '@smithy/types';

/** SHA-256 in the shape the signer takes (the same binding the AWS SDK uses on Node). */
const Sha256 = Hash.bind(null, 'sha256');

/** The value of x-amz-content-sha256 for a streamed S3 body. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** What a route signs for. */
export interface SigningScope {
  service: string;
  region: string;
  /** S3 rules: the path is signed as sent (encoded once, never normalised). */
  s3: boolean;
}

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
  /** The whole body, or undefined for none or for an unsigned (streamed) S3 body. */
  body?: Uint8Array;
  /** Stream the body and sign it as UNSIGNED-PAYLOAD (S3 only). */
  unsignedPayload?: boolean;
}

/**
 * Signs requests for one route with `@smithy/signature-v4`. The signer instance is kept for
 * the route's lifetime, so its signing-key cache (per credentials, day, region, service)
 * is reused; credentials come per call from the route's cached provider.
 */
export class RouteSigner {
  private readonly signer: SignatureV4;
  private readonly sendsContentSha256: boolean;

  constructor(
    scope: SigningScope,
    credentials: () => Promise<AwsCredentialIdentity>,
  ) {
    // The credentials provider is the route's shared cache; the signer adds its own
    // signing-key cache, per credentials, day, region and service.
    // S3 and OpenSearch Serverless require x-amz-content-sha256; other services neither need nor expect it.
    this.sendsContentSha256 = scope.s3 || scope.service === 'aoss';
    this.signer = new SignatureV4({
      service: scope.service,
      region: scope.region,
      credentials,
      sha256: Sha256,
      uriEscapePath: !scope.s3,
      applyChecksum: this.sendsContentSha256,
    });
  }

  /** Returns the headers to send: the given ones plus x-amz-date, the token, the payload hash and authorization. */
  async sign(request: RequestToSign): Promise<Record<string, string>> {
    const headers = { ...request.headers };
    if (request.unsignedPayload) {
      headers['x-amz-content-sha256'] = UNSIGNED_PAYLOAD;
    }
    const signed = await this.signer.sign({
      method: request.method,
      protocol: request.protocol,
      hostname: request.hostname,
      port: request.port,
      path: request.path,
      query: request.query,
      headers,
      body: request.unsignedPayload ? undefined : request.body,
    });
    return signed.headers as Record<string, string>;
  }
}

/** The access key id that signed a request, read back from its Authorization header. */
export function signingAccessKeyId(headers: Record<string, string>): string | undefined {
  return /Credential=([^/,\s]+)\//.exec(headers.authorization ?? '')?.[1];
}

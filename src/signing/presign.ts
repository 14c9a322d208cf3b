import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { AwsCredentialIdentity, HeaderBag, HttpRequest } from '@smithy/types';
import { ServiceUnavailableError } from '@backstage/errors';
import { formatCanonicalQuery } from '../endpoint/canonical';
import { UNSIGNED_PAYLOAD, withCanonicalQuery } from './signRequest';

/*
 * Presigned URLs (query-string authentication) for S3 routes: the signature, the date, the
 * lifetime and the session token travel in the URL, so whoever holds it can send that one
 * request until it expires, without the proxy.
 */

const Sha256 = Hash.bind(null, 'sha256');
const CONTENT_SHA256 = 'x-amz-content-sha256';

/** AWS's longest presigned lifetime (SigV4 query authentication: 7 days). */
export const MAX_PRESIGN_SECONDS = 604_800;

/** One request to presign, path and query as they will be in the URL. */
export interface RequestToPresign {
  method: string;
  protocol: 'http:' | 'https:';
  /** The Host header value (host plus a non-default port). */
  host: string;
  /** Canonical wire path (see endpoint/canonical). */
  path: string;
  /** Decoded query parameters (without any X-Amz-* authentication parameter). */
  query: Record<string, string | string[]>;
  /**
   * Lower-case headers the holder of the URL must send with it (they are signed), besides
   * `host`; `x-amz-*` ones stay headers (never moved into the URL).
   */
  headers: Record<string, string>;
}

/** A presigned request. */
export interface Presigned {
  url: string;
  /** Seconds the URL is valid for from its X-Amz-Date. */
  expiresIn: number;
  /** When it stops being valid: never after the credentials that signed it expire. */
  expiresAt: Date;
  /** Headers the holder must send, as signed (host excluded: the URL carries it). */
  headers: Record<string, string>;
}

/**
 * `@smithy/signature-v4`'s presign, with the canonical query line replaced by
 * formatCanonicalQuery's (the string the URL carries), so that what is signed and what is
 * sent are one string, whatever order or escaping smithy would have chosen.
 */
class CanonicalPresignV4 extends SignatureV4 {
  protected override createCanonicalRequest(
    request: HttpRequest,
    canonicalHeaders: HeaderBag,
    payloadHash: string,
  ): string {
    const built = super.createCanonicalRequest(request, canonicalHeaders, payloadHash);
    const query = { ...request.query } as Record<string, string | string[]>;
    delete query['X-Amz-Signature'];
    return withCanonicalQuery(built, formatCanonicalQuery(query), false);
  }
}

/**
 * Presigns `request` for S3 (payload UNSIGNED-PAYLOAD, as S3 requires of presigned URLs)
 * with the credentials `credentials` gives now, valid `expiresIn` seconds but never past the
 * credentials' own expiry (the URL would stop working then anyway: it is cut short and
 * `expiresAt` says so). Throws a 503 when the credentials have less than a second left.
 */
export async function presignRequest(
  scope: { service: string; region: string },
  credentials: () => Promise<AwsCredentialIdentity>,
  request: RequestToPresign,
  expiresIn: number,
  now = Date.now(),
): Promise<Presigned> {
  const identity = await credentials();
  // X-Amz-Date has whole seconds: the lifetime counts from the second it names.
  const signingDate = new Date(Math.floor(now / 1000) * 1000);
  let seconds = Math.min(expiresIn, MAX_PRESIGN_SECONDS);
  if (identity.expiration) {
    seconds = Math.min(
      seconds,
      Math.floor((identity.expiration.getTime() - signingDate.getTime()) / 1000),
    );
  }
  if (!(seconds >= 1)) {
    throw new ServiceUnavailableError(
      'The route\'s AWS credentials expire now; a URL presigned with them would not work. Try again in a moment',
    );
  }
  const signer = new CanonicalPresignV4({
    service: scope.service,
    region: scope.region,
    credentials: identity,
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const mustSend = Object.keys(request.headers).filter(name => name !== 'host');
  const signed = await signer.presign(
    {
      method: request.method,
      protocol: request.protocol,
      hostname: request.host,
      path: request.path,
      query: { ...request.query },
      // The payload hash the signer uses (never sent, never in the URL).
      headers: { ...request.headers, host: request.host, [CONTENT_SHA256]: UNSIGNED_PAYLOAD },
    },
    {
      expiresIn: seconds,
      signingDate,
      unsignableHeaders: new Set([CONTENT_SHA256]),
      // Every header the holder must send stays a header: nothing the caller chose moves
      // into the URL, where it would be logged.
      unhoistableHeaders: new Set([CONTENT_SHA256, ...mustSend]),
    },
  );
  const query = formatCanonicalQuery(signed.query as Record<string, string | string[]>);
  return {
    url: `${request.protocol}//${request.host}${request.path}?${query}`,
    expiresIn: seconds,
    expiresAt: new Date(signingDate.getTime() + seconds * 1000),
    headers: Object.fromEntries(mustSend.map(name => [name, request.headers[name]])),
  };
}

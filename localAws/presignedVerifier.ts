/*
 * Checks a query-signed (presigned) SigV4 request as S3 would, with an implementation other
 * than the plugin's signer: aws4 recomputes the signature from the URL as it arrived (its
 * query signing keeps an X-Amz-Date already in the query), and the parameters S3 checks
 * around the signature (algorithm, credential, expiry, signed headers, session token) are
 * checked here from the S3 API reference ("Authenticating Requests: Using Query
 * Parameters"). Not part of the plugin.
 */
import http from 'node:http';
import aws4 from 'aws4';
import type { AcceptedCredentials, Aws4Trace } from './verifyingUpstream';

/** SigV4's longest presigned lifetime (7 days), in seconds. */
export const MAX_PRESIGNED_EXPIRES = 604_800;

const AUTH_PARAMS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
] as const;
const CREDENTIAL = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export interface PresignedCheck {
  error?: string;
  code?: string;
  service?: string;
  region?: string;
  signedHeaders?: string[];
  aws4?: Aws4Trace;
  /** When the URL stops being valid (ms), once its date and expiry have been read. */
  expiresAt?: number;
}

/** A query's pieces as they arrived, each with its decoded name. */
function queryPieces(rawQuery: string): { raw: string; name: string; value: string }[] {
  return rawQuery
    .split('&')
    .filter(raw => raw !== '')
    .map(raw => {
      const eq = raw.indexOf('=');
      const decode = (s: string) => {
        try {
          return decodeURIComponent(s.replace(/\+/g, ' '));
        } catch {
          return s;
        }
      };
      return {
        raw,
        name: decode(eq < 0 ? raw : raw.slice(0, eq)),
        value: decode(eq < 0 ? '' : raw.slice(eq + 1)),
      };
    });
}

/**
 * Verifies a presigned request (no Authorization header; X-Amz-Signature in the query).
 * `now` (ms) decides expiry; `body` is hashed for services other than S3, whose presigned
 * URLs carry UNSIGNED-PAYLOAD.
 */
export function verifyPresigned(
  req: { method: string; url: string; headers: http.IncomingHttpHeaders },
  secrets: AcceptedCredentials,
  now: number = Date.now(),
  body: Buffer = Buffer.alloc(0),
): PresignedCheck {
  if (req.headers.authorization !== undefined) {
    return { error: 'a presigned request must not also carry an Authorization header', code: 'InvalidArgument' };
  }
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const pieces = queryPieces(q < 0 ? '' : req.url.slice(q + 1));
  const params = new Map<string, string>();
  for (const { name, value } of pieces) {
    if (name.startsWith('X-Amz-') && params.has(name)) {
      return { error: `${name} appears more than once in the query`, code: 'AuthorizationQueryParametersError' };
    }
    params.set(name, value);
  }
  const missing = AUTH_PARAMS.filter(name => !params.has(name));
  if (missing.length > 0) {
    return { error: `the query lacks ${missing.join(', ')}`, code: 'AuthorizationQueryParametersError' };
  }
  const get = (name: (typeof AUTH_PARAMS)[number]) => params.get(name)!;
  if (get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') {
    return { error: `unsupported X-Amz-Algorithm ${get('X-Amz-Algorithm')}`, code: 'AuthorizationQueryParametersError' };
  }
  const credential = CREDENTIAL.exec(get('X-Amz-Credential'));
  if (!credential) {
    return { error: `malformed X-Amz-Credential ${get('X-Amz-Credential')}`, code: 'AuthorizationQueryParametersError' };
  }
  const [, accessKeyId, date, region, service] = credential;
  const creds = Object.hasOwn(secrets, accessKeyId) ? secrets[accessKeyId] : undefined;
  if (!creds) {
    return { error: `unknown access key ${accessKeyId}`, code: 'InvalidAccessKeyId' };
  }
  if (creds.expiresAt !== undefined && now >= creds.expiresAt) {
    return { error: `the credentials ${accessKeyId} have expired`, code: 'ExpiredToken' };
  }
  const amzDate = get('X-Amz-Date');
  const when = AMZ_DATE.test(amzDate)
    ? Date.parse(amzDate.replace(AMZ_DATE, '$1-$2-$3T$4:$5:$6Z'))
    : NaN;
  if (Number.isNaN(when) || !amzDate.startsWith(date)) {
    return { error: `X-Amz-Date ${amzDate} is not a date of the credential scope ${date}`, code: 'AuthorizationQueryParametersError' };
  }
  const expires = get('X-Amz-Expires');
  if (!/^\d{1,6}$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGNED_EXPIRES) {
    return { error: `X-Amz-Expires ${expires} is not from 1 to ${MAX_PRESIGNED_EXPIRES} seconds`, code: 'AuthorizationQueryParametersError' };
  }
  const expiresAt = when + Number(expires) * 1000;
  if (now >= expiresAt) {
    return { error: 'Request has expired', code: 'AccessDenied', expiresAt };
  }
  if (when > now + 15 * 60 * 1000) {
    return { error: `X-Amz-Date ${amzDate} is in the future: the request is not yet valid`, code: 'AccessDenied', expiresAt };
  }
  const token = params.get('X-Amz-Security-Token');
  if (creds.sessionToken ? token !== creds.sessionToken : token !== undefined) {
    return { error: 'missing or wrong X-Amz-Security-Token', code: 'InvalidToken', expiresAt };
  }
  if (!/^[0-9a-f]{64}$/.test(get('X-Amz-Signature'))) {
    return { error: 'malformed X-Amz-Signature', code: 'AuthorizationQueryParametersError', expiresAt };
  }
  // The AWS SDK hoists its x-amz-content-sha256 header into the query, in lower case.
  const payloadParam = [...params].find(([name]) => name.toLowerCase() === 'x-amz-content-sha256')?.[1];
  if (service === 's3' && payloadParam !== undefined && payloadParam !== 'UNSIGNED-PAYLOAD') {
    return { error: `a presigned S3 URL's payload is UNSIGNED-PAYLOAD, not ${payloadParam}`, code: 'InvalidArgument', expiresAt };
  }
  const signedList = get('X-Amz-SignedHeaders');
  if (!/^[a-z0-9-]+(;[a-z0-9-]+)*$/.test(signedList)) {
    return { error: `malformed X-Amz-SignedHeaders ${signedList}`, code: 'AuthorizationQueryParametersError', expiresAt };
  }
  const signedHeaders = signedList.split(';');
  if (!signedHeaders.includes('host')) {
    return { error: 'host is not signed', code: 'AuthorizationQueryParametersError', expiresAt };
  }
  const headers: Record<string, string> = {};
  const include: Record<string, boolean> = {};
  for (const name of signedHeaders) {
    const value = req.headers[name];
    if (value === undefined) {
      return { error: `signed header ${name} did not arrive`, code: 'SignatureDoesNotMatch', expiresAt };
    }
    headers[name] = Array.isArray(value) ? value.join(',') : value;
    include[name] = true;
  }
  // The query as it arrived, less its signature: aws4 keeps X-Amz-Date and X-Amz-Expires
  // from it and sets the algorithm, credential and signed headers to what they must be.
  const unsigned = pieces.filter(p => p.name !== 'X-Amz-Signature').map(p => p.raw).join('&');
  const signer = new (aws4 as any).RequestSigner(
    {
      method: req.method,
      host: headers.host,
      path: unsigned ? `${path}?${unsigned}` : path,
      service,
      region,
      headers,
      body,
      signQuery: true,
      extraHeadersToInclude: include,
    },
    { accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: creds.sessionToken },
  );
  // Before anything else: aws4's signature() derives the key from the date it has, and
  // reads X-Amz-Date from the query only once it parses the path.
  signer.datetime = amzDate;
  const expected: string = signer.signature();
  const aws4Trace: Aws4Trace = {
    canonicalRequest: signer.canonicalString(),
    stringToSign: signer.stringToSign(),
  };
  const result = { service, region, signedHeaders, aws4: aws4Trace, expiresAt };
  if (signer.signedHeaders() !== signedList) {
    return {
      ...result,
      error: `X-Amz-SignedHeaders ${signedList} is not the sorted list of headers ${signer.signedHeaders()}`,
      code: 'SignatureDoesNotMatch',
    };
  }
  if (expected !== get('X-Amz-Signature')) {
    return {
      ...result,
      error: `SignatureDoesNotMatch; aws4's canonical request:\n${aws4Trace.canonicalRequest}`,
      code: 'SignatureDoesNotMatch',
    };
  }
  return result;
}

import { IncomingHttpHeaders } from 'node:http';

/**
 * AWS error codes that mean "these credentials are expired or unknown", as S3 (XML),
 * the query services (XML) and the JSON services (`__type`, `x-amzn-ErrorType`) send them.
 * A request signed with fresh credentials may succeed; nothing else is worth a retry.
 */
const REJECTED_CREDENTIAL_CODES = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'InvalidAccessKeyId',
  'UnrecognizedClientException',
  'TokenRefreshRequired',
]);
/** S3's code for a malformed session token; only trusted in S3's own XML error document. */
const S3_ONLY_CODES = new Set(['InvalidToken']);

/**
 * API Gateway and Lambda URLs answer `{"message": "The security token included in the request
 * is expired"}`; only that exact top-level message counts, never the words inside other text
 * (services echo callers' input in their errors).
 */
const REJECTED_MESSAGE = /^The security token included in the request is (?:expired|invalid)\.?$/;

/** The root of an AWS XML error document and its first `<Code>`: S3's `<Error>`, the query services' `<ErrorResponse><Error>`. */
const XML_ERROR =
  /^\s*(?:<\?xml[^>]*\?>\s*)?<(?:Error|ErrorResponse)(?:\s[^>]*)?>\s*(?:<Error>\s*)?(?:<Type>[^<]*<\/Type>\s*)?<Code>([^<]*)<\/Code>/;

/** The largest error body looked at; AWS error documents are far smaller. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** Only these statuses can mean rejected credentials (JSON services use 400, others 403). */
export function mayBeRejectedCredentials(status: number | undefined): boolean {
  return status === 403 || status === 400;
}

function codeOf(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  // "com.amazon.coral.service#ExpiredTokenException", "ExpiredTokenException:http://..."
  return value.split('#').pop()!.split(':')[0].trim();
}

const header = (headers: IncomingHttpHeaders, name: string) => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * True when an upstream answer says that the request's credentials were rejected as
 * expired or unknown. The error code is read where AWS puts it, never from free text: the
 * `x-amzn-errortype` or `x-amz-error-code` header when there is one (and then only there);
 * otherwise the first `<Code>` of an XML error document, or the top-level `__type` or
 * `code` of a JSON one, or its exact security-token message.
 */
export function isRejectedCredentials(
  status: number | undefined,
  headers: IncomingHttpHeaders,
  body: Buffer,
): boolean {
  if (!mayBeRejectedCredentials(status)) {
    return false;
  }
  const headerCode =
    codeOf(header(headers, 'x-amzn-errortype')) ?? codeOf(header(headers, 'x-amz-error-code'));
  if (headerCode !== undefined) {
    return REJECTED_CREDENTIAL_CODES.has(headerCode);
  }
  const text = body.subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8');
  const xml = XML_ERROR.exec(text);
  if (xml) {
    const code = xml[1].trim();
    return REJECTED_CREDENTIAL_CODES.has(code) || S3_ONLY_CODES.has(code);
  }
  if (/^\s*\{/.test(text)) {
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text);
    } catch {
      return false;
    }
    const code = codeOf(json?.__type) ?? codeOf(json?.code) ?? codeOf(json?.Code);
    if (code !== undefined) {
      return REJECTED_CREDENTIAL_CODES.has(code);
    }
    const message = json?.message ?? json?.Message;
    return typeof message === 'string' && REJECTED_MESSAGE.test(message.trim());
  }
  return false;
}

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
  'InvalidToken',
]);

/** API Gateway and Lambda URLs answer `{"message": "The security token included in the request is expired"}`. */
const REJECTED_MESSAGE = /security token included in the request is (?:expired|invalid)/i;

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

/**
 * True when an upstream answer says that the request's credentials were rejected as
 * expired or unknown: a code in the `x-amzn-errortype` or `x-amz-error-code` header, in
 * an XML `<Code>`, or in a JSON `__type`/`code`, or the security-token message.
 */
export function isRejectedCredentials(
  status: number | undefined,
  headers: IncomingHttpHeaders,
  body: Buffer,
): boolean {
  if (!mayBeRejectedCredentials(status)) {
    return false;
  }
  const codes = [
    codeOf(headers['x-amzn-errortype']),
    codeOf(headers['x-amz-error-code']),
  ];
  const text = body.subarray(0, MAX_ERROR_BODY_BYTES).toString('utf8');
  for (const m of text.matchAll(/<Code>\s*([A-Za-z.#:]+)\s*<\/Code>/g)) {
    codes.push(codeOf(m[1]));
  }
  if (/^\s*\{/.test(text)) {
    try {
      const json = JSON.parse(text);
      for (const key of ['__type', 'code', 'Code', 'errorType']) {
        codes.push(codeOf(json?.[key]));
      }
    } catch {
      // not JSON after all
    }
  }
  return (
    codes.some(code => code !== undefined && REJECTED_CREDENTIAL_CODES.has(code)) ||
    REJECTED_MESSAGE.test(text)
  );
}

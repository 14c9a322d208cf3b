import { SignatureV4 } from '@smithy/signature-v4';

/**
 * What the signer computed for one request, for a route with `debug: true`: the canonical
 * request and the string to sign, exactly as `@smithy/signature-v4` built them (with the
 * values of {@link SECRET_HEADERS} replaced), so that they can be compared with what AWS
 * says it expected in a SignatureDoesNotMatch answer. Neither ever holds the secret key.
 */
export interface SigningTrace {
  /** The canonical request, with the values of {@link SECRET_HEADERS} replaced. */
  canonicalRequest: string;
  stringToSign: string;
  accessKeyId: string;
}

/**
 * Signed headers whose values are secrets: the session token, and S3's SSE-C keys, which a
 * caller may send (as `x-amz-*` headers they are forwarded and signed). Their values are
 * replaced in a logged canonical request.
 */
export const SECRET_HEADERS: Readonly<Record<string, string>> = {
  'x-amz-security-token': '<session token, not logged>',
  'x-amz-server-side-encryption-customer-key': '<SSE-C key, not logged>',
  'x-amz-copy-source-server-side-encryption-customer-key': '<SSE-C key, not logged>',
};
/** What replaces the session token's value in a logged canonical request. */
export const SESSION_TOKEN_PLACEHOLDER = SECRET_HEADERS['x-amz-security-token'];

/**
 * A signer that keeps what it computed. One instance signs one request: the trace of
 * concurrent requests would otherwise mix. Only routes with `debug: true` use it.
 */
export class TracingSignatureV4 extends SignatureV4 {
  private captured?: { canonicalRequest: string; stringToSign: string };

  // The hook the signer's own signing path calls with the canonical request it built.
  protected override async createStringToSign(
    longDate: string,
    credentialScope: string,
    canonicalRequest: string,
    algorithmIdentifier: string,
  ): Promise<string> {
    const stringToSign = await super.createStringToSign(
      longDate,
      credentialScope,
      canonicalRequest,
      algorithmIdentifier,
    );
    this.captured = { canonicalRequest, stringToSign };
    return stringToSign;
  }

  /**
   * The trace of the request this instance signed, read after `sign` resolved. Should a
   * later signer stop calling the hook, the trace says so rather than failing the request.
   */
  trace(accessKeyId: string): SigningTrace {
    const notCaptured = '(not captured: the signer did not pass it to the debug hook)';
    return {
      canonicalRequest: this.captured
        ? redactSecrets(this.captured.canonicalRequest)
        : notCaptured,
      stringToSign: this.captured?.stringToSign ?? notCaptured,
      accessKeyId,
    };
  }
}

/**
 * Replaces the values of the canonical header lines of {@link SECRET_HEADERS}. The canonical
 * headers are the lines between the query line and the first empty line, lower-case names.
 */
function redactSecrets(canonicalRequest: string): string {
  const lines = canonicalRequest.split('\n');
  for (let i = 3; i < lines.length && lines[i] !== ''; i++) {
    const name = lines[i].slice(0, lines[i].indexOf(':'));
    if (Object.hasOwn(SECRET_HEADERS, name)) {
      lines[i] = `${name}:${SECRET_HEADERS[name]}`;
    }
  }
  return lines.join('\n');
}

/** The log message for one signed request: a headline, then both texts. */
export function describeSigning(
  route: string,
  method: string,
  wire: string,
  trace: SigningTrace,
): string {
  return [
    `proxysigv4 route ${route}: signed ${method} ${wire} with access key ${trace.accessKeyId} (debug)`,
    'Canonical request:',
    trace.canonicalRequest,
    'String to sign:',
    trace.stringToSign,
  ].join('\n');
}

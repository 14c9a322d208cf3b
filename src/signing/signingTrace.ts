import { SignatureV4 } from '@smithy/signature-v4';

/**
 * What the signer computed for one request, for a route with `debug: true`: the canonical
 * request and the string to sign, exactly as `@smithy/signature-v4` built them (with the
 * session token's value replaced), so that they can be compared with what AWS says it
 * expected in a SignatureDoesNotMatch answer. Neither ever holds the secret key.
 */
export interface SigningTrace {
  /** The canonical request, with the x-amz-security-token value replaced. */
  canonicalRequest: string;
  stringToSign: string;
  accessKeyId: string;
}

/** What replaces the session token's value in a logged canonical request. */
export const SESSION_TOKEN_PLACEHOLDER = '<session token, not logged>';

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

  /** The trace of the request this instance signed, read after `sign` resolved. */
  trace(accessKeyId: string): SigningTrace {
    if (!this.captured) {
      throw new Error('the signer did not build a canonical request');
    }
    return {
      canonicalRequest: redactSessionToken(this.captured.canonicalRequest),
      stringToSign: this.captured.stringToSign,
      accessKeyId,
    };
  }
}

/**
 * Replaces the value of the canonical `x-amz-security-token` header line. The canonical
 * headers are the lines between the query line and the first empty line, lower-case names.
 */
function redactSessionToken(canonicalRequest: string): string {
  const lines = canonicalRequest.split('\n');
  for (let i = 3; i < lines.length && lines[i] !== ''; i++) {
    if (lines[i].startsWith('x-amz-security-token:')) {
      lines[i] = `x-amz-security-token:${SESSION_TOKEN_PLACEHOLDER}`;
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

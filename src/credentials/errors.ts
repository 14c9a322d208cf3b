import { ServiceUnavailableError } from '@backstage/errors';
import { redactedExcerpt } from './redact';

/**
 * AWS credentials cannot be had right now; becomes a 503 whose message says why. `code` is
 * the AWS error code when there is one (AccessDenied, Throttling, ...).
 */
export class CredentialsUnavailableError extends ServiceUnavailableError {
  readonly code: string;
  /**
   * The trust-policy permission STS refused a per-caller session for
   * (`sts:SetSourceIdentity`, `sts:TagSession`), when that was the reason.
   */
  readonly missingPermission?: string;

  constructor(message: string, cause?: unknown, code?: string, missingPermission?: string) {
    // The cause is not passed on: Backstage would append it, with whatever it holds, to the message.
    super(message);
    this.code = code ?? awsErrorCode(cause) ?? 'CredentialsUnavailable';
    if (missingPermission !== undefined) this.missingPermission = missingPermission;
  }
}

/** The AWS error code of an SDK error, if it has one. */
export function awsErrorCode(error: unknown): string | undefined {
  const e = error as { name?: string; Code?: string; code?: string } | undefined;
  if (error instanceof CredentialsUnavailableError) return error.code;
  return e?.Code ?? e?.code ?? (e?.name && e.name !== 'Error' ? e.name : undefined);
}

/**
 * Describes an AWS SDK error by code and message, never by anything else it holds. The
 * message can echo what was sent (STS's validation errors quote the ExternalId, a
 * SignatureDoesNotMatch quotes the canonical request with the session token): `secrets`
 * are replaced before it is cut short.
 */
export function describeAwsError(
  error: unknown,
  secrets: ReadonlyArray<string | undefined> = [],
): string {
  const code = redactedExcerpt(awsErrorCode(error) ?? 'Error', secrets, 100);
  const message = redactedExcerpt(String((error as Error)?.message ?? error), secrets, 300);
  return `${code}: ${message}`;
}

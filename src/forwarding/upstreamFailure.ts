import { BadGatewayError, GatewayTimeoutError } from './errors';

/*
 * What a failed exchange with the upstream becomes: sent again, once, when it never reached
 * the upstream, or else a 504 (no answer in time) or a 502.
 */

const RETRYABLE_ON_REUSED_SOCKET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** Only these are sent again after a reset on a pooled connection: the upstream may have seen the first. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * True when `error` is the upstream closing a pooled connection (`reusedSocket`) as the
 * request was written to it, and `method` may be sent again. Whether the body can be
 * replayed, and whether the request was answered or retried before, is the caller's to check.
 */
export function isResendableReset(
  method: string,
  error: NodeJS.ErrnoException,
  reusedSocket: boolean,
): boolean {
  return (
    reusedSocket &&
    IDEMPOTENT.has(method) &&
    RETRYABLE_ON_REUSED_SOCKET.has(error.code ?? '')
  );
}

/** The error the caller gets for a failed exchange: a timeout stays a 504, the rest is a 502. */
export function gatewayError(error: NodeJS.ErrnoException): Error {
  if (error instanceof GatewayTimeoutError) return error;
  return new BadGatewayError(
    `The upstream could not be reached or reset the connection (${error.code ?? error.message})`,
  );
}

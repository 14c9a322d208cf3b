import { CustomErrorBase } from '@backstage/errors';
import { Request, Response } from 'express';

/** The method is not in the route's `allowedMethods`; 405. */
export class MethodNotAllowedError extends CustomErrorBase {
  name = 'MethodNotAllowedError' as const;
  constructor(
    message: string,
    readonly allowed: readonly string[],
  ) {
    super(message);
  }
}

/** The body is larger than the route's `maxBodySize`; 413. */
export class PayloadTooLargeError extends CustomErrorBase {
  name = 'PayloadTooLargeError' as const;
}

/**
 * The request's headers are too many or too large to forward (see
 * forwarding/requestHeaders); 431 Request Header Fields Too Large (RFC 6585).
 */
export class RequestHeaderFieldsTooLargeError extends CustomErrorBase {
  name = 'RequestHeaderFieldsTooLargeError' as const;
}

/** The upstream could not be reached, or reset before answering; 502. */
export class BadGatewayError extends CustomErrorBase {
  name = 'BadGatewayError' as const;
}

/** The upstream did not answer with headers within the route's `timeout`; 504. */
export class GatewayTimeoutError extends CustomErrorBase {
  name = 'GatewayTimeoutError' as const;
}

const STATUS_BY_NAME: Record<string, number> = {
  InputError: 400,
  AuthenticationError: 401,
  NotAllowedError: 403,
  NotFoundError: 404,
  MethodNotAllowedError: 405,
  PayloadTooLargeError: 413,
  RequestHeaderFieldsTooLargeError: 431,
  BadGatewayError: 502,
  ServiceUnavailableError: 503,
  GatewayTimeoutError: 504,
};

/** The HTTP status for an error; anything unexpected is a 500. */
export function statusOf(error: unknown): number {
  const name = (error as Error | undefined)?.name;
  return (name && STATUS_BY_NAME[name]) || 500;
}

/**
 * Sends an error as Backstage's error handler does:
 * `{"error":{"name","message"},"request":{"method","url"},"response":{"statusCode"}}`.
 * A 500 never shows its internal message.
 */
export function sendError(req: Request, res: Response, error: unknown): void {
  const statusCode = statusOf(error);
  const e = error as Error;
  const name = statusCode === 500 ? 'Error' : e.name;
  const message =
    statusCode === 500 ? 'Internal error in the SigV4 proxy' : e.message;
  if (error instanceof MethodNotAllowedError) {
    res.setHeader('allow', error.allowed.join(', '));
  }
  if (!req.complete) {
    // The request body was not read: do not keep a connection with unread bytes in it.
    res.setHeader('connection', 'close');
  }
  res.status(statusCode).json({
    error: { name, message },
    request: { method: req.method, url: req.originalUrl },
    response: { statusCode },
  });
}

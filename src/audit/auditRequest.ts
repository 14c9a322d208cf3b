import { Request, Response } from 'express';
import {
  AuditorService,
  AuditorServiceEvent,
  BackstageCredentials,
  LoggerService,
} from '@backstage/backend-plugin-api';
import { whenClientDone } from '../forwarding/forward';

/** The auditor's event id for a request to a route: `proxy-sigv4.proxy-request` in the log. */
export const AUDIT_EVENT_ID = 'proxy-request';
/** The auditor's event id for a presigned URL handed out: `proxy-sigv4.presign` in the log. */
export const PRESIGN_EVENT_ID = 'presign';

/** Methods recorded with severity `low`; the others, which change things, with `medium`. */
const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What the router learns about a request as it is handled, for its audit record. */
export interface AuditedRequest {
  /** The route key once the request is matched to a route; `?` until then. */
  route: string;
  /** Who called, once admitted (undefined: anonymous, or not admitted). */
  caller?: BackstageCredentials;
  /** Request body bytes received from the caller and sent on. */
  requestBytes: number;
  /** Response body bytes received from the upstream and passed back to the caller. */
  responseBytes: number;
  /** Set when the proxy answered with an error of its own, or could not finish. */
  error?: Error;
  /**
   * The AWS session a `sessionPerCaller` route signed with: CloudTrail shows the session
   * name in `userIdentity.arn` and the SourceIdentity in `sourceIdentity`.
   */
  awsSession?: { roleSessionName: string; sourceIdentity?: string };
  /**
   * A presigned URL handed out: the request it is for (method, upstream path, never the
   * query, which may hold secrets of its own) and until when it works.
   */
  presigned?: { method: string; path: string; expiresAt: string };
}

function describeCaller(credentials: BackstageCredentials | undefined): string {
  const principal = credentials?.principal as
    | { type: 'user'; userEntityRef: string }
    | { type: 'service'; subject: string }
    | { type: 'none' }
    | undefined;
  switch (principal?.type) {
    case 'user':
      return principal.userEntityRef;
    case 'service':
      return principal.subject;
    default:
      return 'anonymous';
  }
}

/**
 * The request as the auditor should see it when it cannot verify the request's token (an
 * open route called with a bad token, or a cookie route's limited token sent as a bearer
 * token): without the token, so that it records an anonymous actor with the caller's IP and
 * user agent, instead of failing or naming the plugin itself.
 */
function withoutToken(req: Request): Request {
  const copy = Object.create(req) as Request;
  Object.defineProperty(copy, 'headers', {
    value: { ...req.headers, authorization: undefined },
  });
  return copy;
}

/**
 * Records a request to the proxy through Backstage's auditor: an `initiated` event now, and
 * a `succeeded` or `failed` one when the exchange is over, with the route, method, path (the
 * auditor itself adds the URL, query included, as Backstage's request log has it), caller,
 * status and body sizes. Never headers, bodies or credentials. The request is never delayed
 * by the auditor, and an auditor failure is logged, not thrown.
 *
 * `succeeded` means the upstream's answer was passed back whole, whatever its status;
 * `failed` means the proxy answered with an error of its own, or the exchange was cut off.
 */
export function auditRequest(
  auditor: AuditorService,
  logger: LoggerService,
  req: Request,
  res: Response,
  eventId: string = AUDIT_EVENT_ID,
): AuditedRequest {
  const audited: AuditedRequest = { route: '?', requestBytes: 0, responseBytes: 0 };
  const options = {
    eventId,
    // A presigned URL is a credential for one request, whatever its method: never `low`.
    severityLevel:
      READ_METHODS.has(req.method) && eventId !== PRESIGN_EVENT_ID ? ('low' as const) : ('medium' as const),
    meta: { method: req.method, path: req.path },
  };
  const event: Promise<AuditorServiceEvent> = auditor
    .createEvent({ ...options, request: req })
    .catch(() =>
      auditor.createEvent({
        ...options,
        request: withoutToken(req),
        meta: { ...options.meta, unverifiedToken: true },
      }),
    );
  event.catch(() => {}); // reported when the exchange is over

  whenClientDone(res, () => {
    const complete = res.writableFinished;
    const meta = {
      route: audited.route,
      caller: describeCaller(audited.caller),
      status: res.headersSent ? res.statusCode : null,
      requestBytes: audited.requestBytes,
      responseBytes: audited.responseBytes,
      ...(audited.awsSession ? { awsSession: audited.awsSession } : {}),
      ...(audited.presigned ? { presigned: audited.presigned } : {}),
    };
    let error = audited.error;
    if (!error && !complete) {
      error = new Error(
        res.headersSent
          ? 'The response was cut off before its end'
          : 'The caller closed the connection before an answer',
      );
    }
    event
      .then(e => (error ? e.fail({ error, meta }) : e.success({ meta })))
      .catch(failure =>
        logger.warn(`proxysigv4 route ${audited.route}: could not record the request with the auditor: ${failure}`),
      );
  });
  return audited;
}

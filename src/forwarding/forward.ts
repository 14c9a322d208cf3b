import http from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { openUpstream, SignedRequest, UpstreamTarget } from './upstreamRequest';
import { ResponsePolicy } from './responseHeaders';
import { BadGatewayError, GatewayTimeoutError } from './errors';
import { relayBody, writeAnswerHead } from './relay';
import { SecretMask } from './secretMask';
import { clientGone, whenClientDone } from './connections';
import { guardWith } from './guarded';
import { peekRejection } from './rejectionPeek';
import { RequestBody } from './requestBody';
import { gatewayError, isResendableReset } from './upstreamFailure';
import { mayBeRejectedCredentials } from '../credentials/rejectedCredentials';

export { clientGone, createAgent, whenClientDone } from './connections';
export { CONTINUE_WAIT_MS } from './requestBody';
export type { SignedRequest, UpstreamTarget } from './upstreamRequest';

/** Options of {@link forward}. */
export interface ForwardOptions {
  /**
   * Called, once, when the upstream answers that the request's credentials are expired or
   * unknown (see credentials/rejectedCredentials) and the body can be replayed: returns
   * the request signed again with fresh credentials, or undefined when there are none to try
   * (a refresh was forced moments ago): then the upstream's answer, already read, is passed
   * on. Rejecting passes the error on.
   */
  resignAfterRejectedCredentials?: () => Promise<SignedRequest | undefined>;
  /**
   * Called, once, when the upstream answers that the request's credentials are expired or
   * unknown and the body cannot be sent again (a stream): the answer is passed on, and the
   * credentials should be dropped so that the next request gets fresh ones.
   */
  credentialsRejected?: () => void;
  /** How the answer may be used (see forwarding/responseHeaders). */
  responsePolicy?: ResponsePolicy;
  /**
   * Counted as bytes flow: a streamed request body's bytes as they are sent on, and the
   * response body's bytes as they are passed back.
   */
  transferred?: { requestBytes: number; responseBytes: number };
  /**
   * The request body's bytes are counted by the caller (a chunk-signed upload counts the
   * caller's payload, not its framing): `transferred` gets the response's only.
   */
  requestBytesCounted?: boolean;
}

/**
 * Sends a signed request upstream and streams the answer into `res` as it arrives:
 * status, allowlisted headers, body (see forwarding/relay). Redirects are passed back, never
 * followed. The session token that signed the request is masked wherever the answer echoes it.
 *
 * Resolves once the response has been handed over (or the client has gone). Rejects,
 * before anything was written to `res`, with a 502 or 504 error (or the error of
 * `resignAfterRejectedCredentials`); an answer that is no valid final HTTP answer (a
 * `101 Switching Protocols` nobody asked for, a status outside 200-599, a header Node will
 * not send) is a 502. An upstream failure after the headers were sent destroys the client
 * connection, so that a cut-off body never looks complete. The client going away aborts the
 * upstream request. A reset on a pooled connection is retried once, for idempotent methods
 * with a replayable body; so is an answer that rejects the credentials, with credentials
 * fetched anew. No exception escapes its event handlers: an embedder needs no process-wide
 * handler.
 */
export function forward(
  target: UpstreamTarget,
  request: SignedRequest,
  res: http.ServerResponse,
  options: ForwardOptions = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve();
    };
    const replayable = !(request.body instanceof Readable);
    let resign = replayable
      ? options.resignAfterRejectedCredentials
      : undefined;

    const attempt = (current: SignedRequest, resetRetried: boolean) => {
      const mask = SecretMask.of(current.headers['x-amz-security-token']);
      const upstream = openUpstream(target, current);

      let timer: NodeJS.Timeout | undefined;
      let responded = false;
      /** Set while an error answer is being read (its head has arrived, nothing was relayed). */
      let peeking = false;
      /** Set when this attempt is over: its answer was read and another replaces it, or it failed. */
      let finished = false;
      const arm = () => {
        if (responded) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          const error = new GatewayTimeoutError(
            `The upstream did not answer within ${target.timeout} ms`,
          );
          if (peeking) {
            // The request has its response: destroying it emits no error any more.
            upstream.destroy();
            onError(error);
          } else {
            upstream.destroy(error);
          }
        }, target.timeout);
      };

      const stopWatchingClient = whenClientDone(res, () => {
        if (!res.writableFinished) {
          clearTimeout(timer);
          upstream.destroy();
          settle();
        }
      });

      const requestBody = new RequestBody(upstream, current.body, {
        timeout: target.timeout,
        mayStart: () => !finished,
        sent: bytes => {
          arm();
          if (options.transferred && !options.requestBytesCounted) options.transferred.requestBytes += bytes;
        },
      });

      let failed = false;
      /**
       * Ends this attempt on an answer that cannot be passed on (or a failure to handle it):
       * the caller gets `error` (a 502) or, if its answer had begun, a cut-off connection.
       */
      const fail = (error: Error) => {
        if (failed) return;
        failed = true;
        finished = true;
        responded = true;
        peeking = false;
        clearTimeout(timer);
        requestBody.stopWaiting();
        stopWatchingClient();
        upstream.destroy();
        if (settled) res.destroy();
        else settle(error);
      };
      /** `listener`, with any exception it throws turned into a failed attempt, never thrown on. */
      const guarded = guardWith(error =>
        fail(
          error instanceof BadGatewayError
            ? error
            : new BadGatewayError(`The upstream's answer could not be handled (${(error as Error)?.name})`),
        ),
      );

      /** Hands the answer to the client: head, any body already read, the rest streamed. */
      const relay = (upRes: http.IncomingMessage, head?: Buffer, complete = false) => {
        responded = true;
        peeking = false;
        clearTimeout(timer);
        // Answered before a streamed body: it is never sent, and the caller's unread
        // upload ends with this connection.
        const withheld = requestBody.withhold();
        writeAnswerHead(upRes, res, {
          allowedResponseHeaders: target.allowedResponseHeaders,
          responsePolicy: options.responsePolicy,
          mask,
          closeConnection: withheld,
        });
        settle();
        const body = { head, complete, transferred: options.transferred, idleMs: target.timeout };
        relayBody(upRes, res, body, mask, guarded((error?: Error | null) => {
          if (error) {
            // Cut off visibly: never end a truncated body cleanly.
            upstream.destroy();
            res.destroy();
          } else if (withheld) {
            // The request was never finished: its connection cannot carry another.
            upstream.destroy();
          }
        }));
      };

      /** After rejected credentials: sends the request again, or passes the answer on. */
      const retryOrRelay = (
        again: () => Promise<SignedRequest | undefined>,
        upRes: http.IncomingMessage,
        body: Buffer,
      ) => {
        resign = undefined; // once
        peeking = false;
        finished = true; // this exchange is over; nothing it does now is a failure to retry
        clearTimeout(timer);
        stopWatchingClient();
        again()
          .then(
            guarded((next: SignedRequest | undefined) => {
              if (clientGone(res)) settle();
              else if (next) start(next, false);
              else relay(upRes, body, true);
            }),
          )
          .catch(error => fail(error));
      };

      // A streamed request is never sent again, but rejected credentials are still dropped.
      const dropOnly = replayable ? undefined : options.credentialsRejected;
      upstream.once('response', guarded((upRes: http.IncomingMessage) => {
        if ((!resign && !dropOnly) || !mayBeRejectedCredentials(upRes.statusCode)) {
          relay(upRes);
          return;
        }
        // Read the (small) error document to see whether the credentials were rejected.
        peeking = true;
        peekRejection(upRes, guarded, {
          progress: arm,
          rejected: body => {
            const again = resign;
            if (again) {
              retryOrRelay(again, upRes, body);
              return;
            }
            dropOnly?.();
            relay(upRes, body, true);
          },
          passOn: (head, complete) => relay(upRes, head, complete),
          // Cut off while being read: the request emits no error for that; fail it here (502).
          cutOff: () => {
            if (peeking) onError(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
          },
        });
      }));
      // An upgrade was never asked for (`upgrade` is never forwarded): the connection is
      // no longer HTTP. Without this listener Node closes it and the request never settles.
      upstream.once('upgrade', guarded((_upRes: http.IncomingMessage, socket: Socket) => {
        socket.destroy();
        fail(new BadGatewayError('The upstream switched protocols (101), which was not asked for'));
      }));

      function onError(error: NodeJS.ErrnoException) {
        if (finished) return;
        // Failing while an answer was being read: the request reached the upstream.
        const answered = peeking;
        if (answered) {
          finished = true;
          peeking = false;
        }
        clearTimeout(timer);
        stopWatchingClient();
        if (settled) {
          res.destroy();
          return;
        }
        if (clientGone(res)) {
          settle();
          return;
        }
        if (
          !resetRetried &&
          !responded &&
          !answered &&
          isResendableReset(current.method, error, upstream.reusedSocket) &&
          (replayable || !requestBody.started)
        ) {
          // The pooled connection was closed by the upstream as we wrote to it; the
          // request never reached it, and the body can be sent again: it is buffered, or
          // streamed and still waiting for the upstream's go-ahead.
          start(current, true);
          return;
        }
        settle(gatewayError(error));
      }
      upstream.on('error', onError);
      arm();
      requestBody.send(guarded);
    };

    /** Starts an attempt; one that cannot even be made (Node refuses the request) fails it. */
    function start(current: SignedRequest, resetRetried: boolean) {
      try {
        attempt(current, resetRetried);
      } catch (error) {
        settle(error as Error);
      }
    }

    if (clientGone(res)) {
      // The client left while the request was prepared (credentials were being fetched,
      // say): its 'close' has passed, so nothing would abort what is sent. Send nothing.
      resolve();
      return;
    }
    start(request, false);
  });
}

import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Readable, pipeline } from 'node:stream';
import { ResponsePolicy } from './responseHeaders';
import { BadGatewayError, GatewayTimeoutError } from './errors';
import { relayBody, writeAnswerHead } from './relay';
import { ByteBlocks } from './byteBlocks';
import { Coalescer } from './coalesce';
import { SecretMask } from './secretMask';
import {
  isRejectedCredentials,
  MAX_ERROR_BODY_BYTES,
  mayBeRejectedCredentials,
} from '../credentials/rejectedCredentials';

/** Where and how a route's requests go. */
export interface UpstreamTarget {
  protocol: 'http:' | 'https:';
  /** Host name to connect to (IPv6 without brackets). */
  hostname: string;
  port?: number;
  /** The route's keep-alive agent. */
  agent: http.Agent;
  /** ms without progress before the upstream's response headers; then 504. */
  timeout: number;
  /** Lower-case names added to the default response allowlist. */
  allowedResponseHeaders: ReadonlySet<string>;
}

/** One signed request. */
export interface SignedRequest {
  method: string;
  /** Path and query, exactly as signed. */
  path: string;
  headers: Record<string, string>;
  /**
   * A buffered body in blocks (replayable; see forwarding/body), a stream (S3 unsigned
   * payload; passed on in batches, see forwarding/coalesce), or none.
   */
  body?: readonly Buffer[] | Readable;
}

/** Creates the keep-alive agent of one route: sequential requests share one connection. */
export function createAgent(protocol: 'http:' | 'https:'): http.Agent {
  const options: http.AgentOptions = {
    keepAlive: true,
    scheduling: 'lifo',
    // Idle pooled sockets are closed after 4 s, under the 5 s keep-alive timeout of
    // common servers, so that a request is rarely written onto a socket being closed.
    timeout: 4000,
  };
  return protocol === 'https:'
    ? new https.Agent(options)
    : new http.Agent(options);
}

/**
 * How long a streamed body waits for the upstream's `100 Continue` before it is sent anyway,
 * for servers that ignore `Expect` (curl waits as long); at most half the route's timeout.
 */
export const CONTINUE_WAIT_MS = 1000;

const RETRYABLE_ON_REUSED_SOCKET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** Only these are sent again after a reset on a pooled connection: the upstream may have seen the first. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * True when the caller's connection is gone. (Not `req.destroyed`: a request whose body
 * has been read is destroyed too, with its connection still open for the answer.) A
 * pipelined request's response has no socket until the answers before it are sent; its
 * connection is its request's socket.
 */
export function clientGone(res: http.ServerResponse): boolean {
  const socket = res.socket ?? res.req?.socket;
  return res.destroyed || !socket || socket.destroyed;
}

/**
 * Calls `listener` once, when the exchange with the caller is over: the response closed
 * (after its end, or cut off), or its connection gone. A pipelined response waiting behind
 * others never emits 'close' when the connection dies, hence the connection's own event.
 * Calls it at once if that has already happened. Returns a function that stops listening.
 */
export function whenClientDone(
  res: http.ServerResponse,
  listener: () => void,
): () => void {
  const socket = res.socket ?? res.req?.socket;
  // Only a response still waiting for its socket needs the connection watched.
  const connection = res.socket ? undefined : socket;
  let done = false;
  const stop = () => {
    res.off('close', fire);
    connection?.off('close', fire);
  };
  function fire() {
    if (done) return;
    done = true;
    stop();
    listener();
  }
  if (res.closed || !socket || socket.destroyed) {
    queueMicrotask(fire);
    return () => {
      done = true;
    };
  }
  res.once('close', fire);
  connection?.once('close', fire);
  return () => {
    done = true;
    stop();
  };
}

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
  /** How the answer may be used (see forwarding/responseHeaders). */
  responsePolicy?: ResponsePolicy;
  /**
   * Counted as bytes flow: a streamed request body's bytes as they are sent on, and the
   * response body's bytes as they are passed back.
   */
  transferred?: { requestBytes: number; responseBytes: number };
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
      const transport = target.protocol === 'https:' ? https : http;
      const streamed = current.body instanceof Readable;
      const mask = SecretMask.of(current.headers['x-amz-security-token']);
      const upstream = transport.request({
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: current.method,
        path: current.path,
        // A streamed body waits for the upstream's go-ahead, as the AWS SDKs' uploads do:
        // S3 refuses a request it will not accept (AccessDenied, ExpiredToken, ...) before
        // the body, and that answer reaches the caller instead of a reset mid-upload.
        // (`expect` is never signed.)
        headers: streamed ? { ...current.headers, expect: '100-continue' } : current.headers,
        agent: target.agent,
      });
      /** Set once a streamed body has begun to be sent. */
      let bodyStarted = false;
      /** Set when a streamed body was withheld because the upstream answered first. */
      let withheld = false;
      let continueTimer: NodeJS.Timeout | undefined;

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
        clearTimeout(continueTimer);
        stopWatchingClient();
        upstream.destroy();
        if (settled) res.destroy();
        else settle(error);
      };
      /** `listener`, with any exception it throws turned into a failed attempt, never thrown on. */
      const guarded =
        <A extends unknown[]>(listener: (...args: A) => void) =>
        (...args: A) => {
          try {
            listener(...args);
          } catch (error) {
            fail(
              error instanceof BadGatewayError
                ? error
                : new BadGatewayError(`The upstream's answer could not be handled (${(error as Error)?.name})`),
            );
          }
        };

      /** Hands the answer to the client: head, any body already read, the rest streamed. */
      const relay = (upRes: http.IncomingMessage, head?: Buffer, complete = false) => {
        responded = true;
        peeking = false;
        clearTimeout(timer);
        if (streamed && !bodyStarted) {
          // Answered before the body: it is never sent, and the caller's unread upload
          // ends with this connection.
          withheld = true;
          clearTimeout(continueTimer);
        }
        writeAnswerHead(upRes, res, {
          allowedResponseHeaders: target.allowedResponseHeaders,
          responsePolicy: options.responsePolicy,
          mask,
          closeConnection: withheld,
        });
        settle();
        const body = { head, complete, transferred: options.transferred };
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

      upstream.once('response', guarded((upRes: http.IncomingMessage) => {
        if (!resign || !mayBeRejectedCredentials(upRes.statusCode)) {
          relay(upRes);
          return;
        }
        // Read the (small) error document to see whether the credentials were rejected.
        peeking = true;
        const read = new ByteBlocks();
        const onEnd = guarded(() => {
          const body = Buffer.concat(read.finish());
          const again = resign;
          if (!again || !isRejectedCredentials(upRes.statusCode, upRes.headers, body)) {
            relay(upRes, body, true);
            return;
          }
          retryOrRelay(again, upRes, body);
        });
        const onData = guarded((chunk: Buffer) => {
          arm();
          read.append(chunk);
          if (read.length > MAX_ERROR_BODY_BYTES) {
            upRes.off('data', onData).off('end', onEnd).pause();
            relay(upRes, Buffer.concat(read.finish()));
          }
        });
        upRes.on('data', onData).once('end', onEnd);
        // Cut off while being read: the request emits no error for that; fail it here (502).
        upRes.once('close', () => {
          if (peeking && !upRes.complete) {
            onError(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
          }
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
          upstream.reusedSocket &&
          IDEMPOTENT.has(current.method) &&
          RETRYABLE_ON_REUSED_SOCKET.has(error.code ?? '') &&
          (replayable || !bodyStarted)
        ) {
          // The pooled connection was closed by the upstream as we wrote to it; the
          // request never reached it, and the body can be sent again: it is buffered, or
          // streamed and still waiting for the upstream's go-ahead.
          start(current, true);
          return;
        }
        if (error instanceof GatewayTimeoutError) {
          settle(error);
          return;
        }
        settle(
          new BadGatewayError(
            `The upstream could not be reached or reset the connection (${error.code ?? error.message})`,
          ),
        );
      }
      upstream.on('error', onError);
      arm();

      const body = current.body;
      if (body instanceof Readable) {
        const sendBody = guarded(() => {
          clearTimeout(continueTimer);
          if (bodyStarted || withheld || finished) return;
          bodyStarted = true;
          // Tiny pieces leave in batches, not as a write (and an HTTP chunk) each.
          const batches = new Coalescer();
          batches.on('data', (chunk: Buffer) => {
            arm();
            if (options.transferred) options.transferred.requestBytes += chunk.length;
          });
          body.once('error', () => upstream.destroy());
          pipeline(body, batches, upstream, () => {});
        });
        upstream.once('continue', sendBody);
        continueTimer = setTimeout(sendBody, Math.min(CONTINUE_WAIT_MS, target.timeout / 2));
        upstream.once('close', () => clearTimeout(continueTimer));
      } else {
        // The request has no socket yet: the blocks are queued and leave together once it has.
        for (const block of body ?? []) {
          upstream.write(block);
        }
        upstream.end();
      }
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

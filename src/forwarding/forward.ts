import http from 'node:http';
import https from 'node:https';
import { Readable, pipeline } from 'node:stream';
import { addSandboxPolicy, filterResponseHeaders } from './responseHeaders';
import { BadGatewayError, GatewayTimeoutError } from './errors';
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
  /** A buffered body in its chunks (replayable), a stream (S3 unsigned payload), or none. */
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
   * the request signed again with fresh credentials. Rejecting passes the error on.
   */
  resignAfterRejectedCredentials?: () => Promise<SignedRequest>;
  /**
   * Counted as bytes flow: a streamed request body's bytes as they are sent on, and the
   * response body's bytes as they are passed back.
   */
  transferred?: { requestBytes: number; responseBytes: number };
}

/**
 * Sends a signed request upstream and streams the answer into `res` as it arrives:
 * status, allowlisted headers, body. Redirects are passed back, never followed.
 *
 * Resolves once the response has been handed over (or the client has gone). Rejects,
 * before anything was written to `res`, with a 502 or 504 error (or the error of
 * `resignAfterRejectedCredentials`). An upstream failure after the headers were sent
 * destroys the client connection, so that a cut-off body never looks complete. The client
 * going away aborts the upstream request. A reset on a pooled connection is retried once,
 * for idempotent methods with a replayable body; so is an answer that rejects the
 * credentials, with credentials fetched anew.
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

      /** Hands the answer to the client: head, any body already read, the rest streamed. */
      const relay = (upRes: http.IncomingMessage, head?: Buffer, complete = false) => {
        responded = true;
        peeking = false;
        clearTimeout(timer);
        const headers = filterResponseHeaders(
          upRes.headers,
          target.allowedResponseHeaders,
        );
        addSandboxPolicy(headers, res.getHeader('content-security-policy'));
        if (streamed && !bodyStarted) {
          // Answered before the body: it is never sent, and the caller's unread upload
          // ends with this connection.
          withheld = true;
          clearTimeout(continueTimer);
          headers.connection = 'close';
        }
        res.writeHead(upRes.statusCode ?? 502, headers);
        settle();
        const transferred = options.transferred;
        if (transferred) transferred.responseBytes += head?.length ?? 0;
        if (complete) {
          res.end(head);
          return;
        }
        if (head?.length) {
          res.write(head);
        }
        pipeline(upRes, res, error => {
          if (error) {
            // Cut off visibly: never end a truncated body cleanly.
            upstream.destroy();
            res.destroy();
          } else if (withheld) {
            // The request was never finished: its connection cannot carry another.
            upstream.destroy();
          }
        });
        if (transferred) {
          upRes.on('data', (chunk: Buffer) => {
            transferred.responseBytes += chunk.length;
          });
        }
      };

      upstream.once('response', upRes => {
        if (!resign || !mayBeRejectedCredentials(upRes.statusCode)) {
          relay(upRes);
          return;
        }
        // Read the (small) error document to see whether the credentials were rejected.
        peeking = true;
        const chunks: Buffer[] = [];
        let size = 0;
        const onEnd = () => {
          const body = Buffer.concat(chunks);
          const again = resign;
          if (!again || !isRejectedCredentials(upRes.statusCode, upRes.headers, body)) {
            relay(upRes, body, true);
            return;
          }
          resign = undefined; // once
          peeking = false;
          finished = true;
          clearTimeout(timer);
          stopWatchingClient();
          again()
            .then(next => {
              if (clientGone(res)) settle();
              else attempt(next, false);
            })
            .catch(error => settle(error));
        };
        const onData = (chunk: Buffer) => {
          arm();
          chunks.push(chunk);
          size += chunk.length;
          if (size > MAX_ERROR_BODY_BYTES) {
            upRes.off('data', onData).off('end', onEnd).pause();
            relay(upRes, Buffer.concat(chunks));
          }
        };
        upRes.on('data', onData).once('end', onEnd);
        // Cut off while being read: the request emits no error for that; fail it here (502).
        upRes.once('close', () => {
          if (peeking && !upRes.complete) {
            onError(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
          }
        });
      });

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
          attempt(current, true);
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
        const start = () => {
          clearTimeout(continueTimer);
          if (bodyStarted || withheld || finished) return;
          bodyStarted = true;
          const onData = (chunk: Buffer) => {
            arm();
            if (options.transferred) options.transferred.requestBytes += chunk.length;
          };
          body.on('data', onData);
          upstream.once('close', () => body.off('data', onData));
          body.once('error', () => upstream.destroy());
          pipeline(body, upstream, () => {});
        };
        upstream.once('continue', start);
        continueTimer = setTimeout(start, Math.min(CONTINUE_WAIT_MS, target.timeout / 2));
        upstream.once('close', () => clearTimeout(continueTimer));
      } else {
        // The request has no socket yet: the chunks are queued and leave together once it has.
        for (const chunk of body ?? []) {
          upstream.write(chunk);
        }
        upstream.end();
      }
    };

    if (clientGone(res)) {
      // The client left while the request was prepared (credentials were being fetched,
      // say): its 'close' has passed, so nothing would abort what is sent. Send nothing.
      resolve();
      return;
    }
    attempt(request, false);
  });
}

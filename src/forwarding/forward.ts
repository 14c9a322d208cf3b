import http from 'node:http';
import https from 'node:https';
import { Readable, pipeline } from 'node:stream';
import { filterResponseHeaders } from './responseHeaders';
import { BadGatewayError, GatewayTimeoutError } from './errors';

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
  /** A buffered body (replayable), a stream (S3 unsigned payload), or none. */
  body?: Buffer | Readable;
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

const RETRYABLE_ON_REUSED_SOCKET = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
/** Only these are sent again after a reset on a pooled connection: the upstream may have seen the first. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * True when the caller's connection is gone. (Not `req.destroyed`: a request whose body
 * has been read is destroyed too, with its connection still open for the answer.)
 */
export function clientGone(res: http.ServerResponse): boolean {
  return res.destroyed || !res.socket || res.socket.destroyed;
}

/**
 * Sends a signed request upstream and streams the answer into `res` as it arrives:
 * status, allowlisted headers, body. Redirects are passed back, never followed.
 *
 * Resolves once the response has been handed over (or the client has gone). Rejects,
 * before anything was written to `res`, with a 502 or 504 error. An upstream failure
 * after the headers were sent destroys the client connection, so that a cut-off body
 * never looks complete. The client going away aborts the upstream request. A reset on a
 * pooled connection is retried once, for idempotent methods with a replayable body.
 */
export function forward(
  target: UpstreamTarget,
  request: SignedRequest,
  res: http.ServerResponse,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve();
    };

    const attempt = (retried: boolean) => {
      const transport = target.protocol === 'https:' ? https : http;
      const upstream = transport.request({
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: request.method,
        path: request.path,
        headers: request.headers,
        agent: target.agent,
      });

      let timer: NodeJS.Timeout | undefined;
      let responded = false;
      const arm = () => {
        if (responded) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          upstream.destroy(
            new GatewayTimeoutError(
              `The upstream did not answer within ${target.timeout} ms`,
            ),
          );
        }, target.timeout);
      };
      arm();

      const onClientClose = () => {
        if (!res.writableFinished) {
          clearTimeout(timer);
          upstream.destroy();
          settle();
        }
      };
      res.once('close', onClientClose);

      upstream.once('response', upRes => {
        responded = true;
        clearTimeout(timer);
        const headers = filterResponseHeaders(
          upRes.headers,
          target.allowedResponseHeaders,
        );
        res.writeHead(upRes.statusCode ?? 502, headers);
        settle();
        pipeline(upRes, res, error => {
          if (error) {
            // Cut off visibly: never end a truncated body cleanly.
            upstream.destroy();
            res.destroy();
          }
        });
      });

      upstream.on('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        res.off('close', onClientClose);
        if (settled) {
          res.destroy();
          return;
        }
        if (clientGone(res)) {
          settle();
          return;
        }
        if (
          !retried &&
          upstream.reusedSocket &&
          IDEMPOTENT.has(request.method) &&
          RETRYABLE_ON_REUSED_SOCKET.has(error.code ?? '') &&
          !(request.body instanceof Readable)
        ) {
          // The pooled connection was closed by the upstream as we wrote to it; the
          // request never reached it, and the buffered body can be sent again.
          attempt(true);
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
      });

      const body = request.body;
      if (body instanceof Readable) {
        body.on('data', arm);
        upstream.once('close', () => body.off('data', arm));
        body.once('error', () => upstream.destroy());
        pipeline(body, upstream, () => {});
      } else {
        upstream.end(body);
      }
    };

    attempt(false);
  });
}

/*
 * A verifying upstream that also notes every request the moment its head arrives (the
 * verifying upstream records a request only once its body has ended) and every TCP
 * connection, so that a test can assert that nothing at all reached it, not even a request
 * that was cut off.
 */
import http from 'node:http';
import {
  AcceptedCredentials,
  ReceivedRequest,
  startVerifyingUpstream,
  VerifyingUpstream,
} from '../../localAws';

export interface StartedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Resolves when the request is closed: true if its body arrived complete. */
  completed: Promise<boolean>;
}

export interface WatchedUpstream extends VerifyingUpstream {
  /** Every request whose head arrived, complete or not. */
  started: StartedRequest[];
  /** The port as `host:port` (what a Host header naming it would say). */
  hostPort: string;
  /** Forgets what arrived (received, started); connections are kept. */
  reset(): void;
  /** True when not a single connection was ever accepted. */
  untouched(): boolean;
}

export async function startWatchedUpstream(
  secrets: AcceptedCredentials,
): Promise<WatchedUpstream> {
  const upstream = await startVerifyingUpstream(secrets);
  const started: StartedRequest[] = [];
  // Registered before the verifying listener runs its handler: 'request' listeners run in order.
  upstream.server.prependListener('request', (req: http.IncomingMessage) => {
    started.push({
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      completed: new Promise<boolean>(resolve => {
        req.once('close', () => resolve(req.complete));
      }),
    });
  });
  return Object.assign(upstream, {
    started,
    hostPort: `127.0.0.1:${upstream.port}`,
    reset() {
      upstream.received.length = 0;
      started.length = 0;
    },
    untouched: () => upstream.connections.length === 0 && started.length === 0,
  });
}

export type { ReceivedRequest };

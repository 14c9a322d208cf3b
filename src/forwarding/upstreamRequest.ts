import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/*
 * What a forwarded request is, where it goes, and opening it upstream.
 */

/** Where and how a route's requests go. */
export interface UpstreamTarget {
  protocol: 'http:' | 'https:';
  /** Host name to connect to (IPv6 without brackets). */
  hostname: string;
  port?: number;
  /** The route's keep-alive agent. */
  agent: http.Agent;
  /**
   * ms without progress before the upstream's response headers (then 504), and the longest
   * gap in the answer's body while the caller is ready for more (then the answer is cut off).
   */
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

/**
 * Opens the request upstream (its body is sent separately, see forwarding/requestBody) on
 * the route's pooled connections.
 */
export function openUpstream(target: UpstreamTarget, current: SignedRequest): http.ClientRequest {
  const transport = target.protocol === 'https:' ? https : http;
  const streamed = current.body instanceof Readable;
  return transport.request({
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
}

import { IncomingMessage } from 'node:http';
import { LoggerService } from '@backstage/backend-plugin-api';
import { AwsCredentialIdentity } from '@smithy/types';
import { RouteConfig } from '../config/types';
import { UpstreamPath } from '../endpoint/upstreamPath';
import { PreparedBody } from '../forwarding/body';
import { chunkSignedBody } from '../forwarding/chunkSignedBody';
import { SignedRequest } from '../forwarding/forward';
import { RouteSigner } from '../signing/signRequest';
import { describeSigning, SigningTrace } from '../signing/signingTrace';

/**
 * The signing step of a proxied request: returns a function that signs it (again, after
 * rejected credentials, for a buffered body) with the credentials given, as the headers,
 * path and body it will be sent with. A body sent chunk-signed is framed here, chained from
 * the headers' signature. On a route with `debug: true`, what was signed is logged.
 */
export function signStep(options: {
  req: IncomingMessage;
  route: RouteConfig;
  signer: RouteSigner;
  upstream: UpstreamPath;
  /** The forwarded headers, `host` and the body's framing included. */
  headers: Record<string, string>;
  prepared: PreparedBody;
  /** The caller's own session (`sessionPerCaller`); the route's credentials otherwise. */
  credentials?: () => Promise<AwsCredentialIdentity>;
  logger: LoggerService;
  /** Told a chunk-signed upload's payload bytes as they arrive (for the audit record). */
  onPayload?: (bytes: number) => void;
}): () => Promise<SignedRequest> {
  const { req, route, signer, upstream, headers, prepared, credentials, logger, onPayload } = options;
  const method = req.method!;
  // debug: true logs what was signed, for comparison with a SignatureDoesNotMatch.
  const logTrace = route.debug
    ? (trace: SigningTrace) =>
        logger.info(describeSigning(route.route || '/', method, upstream.wire, trace))
    : undefined;
  const toSign = {
    method,
    protocol: route.protocol,
    hostname: route.hostname,
    port: route.port,
    path: upstream.path,
    query: upstream.query,
    headers,
    payloadHash: prepared.payloadHash,
    unsignedPayload: route.unsignedPayload,
  };
  const { chunked } = prepared;
  if (chunked) {
    // A stream is sent once: never signed again.
    return async () => {
      const streaming = await signer.signStreaming(toSign, logTrace, credentials);
      return {
        method,
        path: upstream.wire,
        body: chunkSignedBody(req, streaming.chunks, chunked.decodedLength, onPayload),
        headers: streaming.headers,
      };
    };
  }
  return async () => ({
    method,
    path: upstream.wire,
    body: prepared.body,
    headers: await signer.sign(toSign, logTrace, credentials),
  });
}

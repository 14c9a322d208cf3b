/*
 * A real upstream (for the tests, the benchmark and the packaging test): an HTTP server on
 * loopback that checks every request's SigV4 signature with an implementation other than
 * the plugin's signer (`aws4`), checks the payload hash against the bytes that actually
 * arrived (for a streamed upload, every chunk's signature: chunkedVerifier), checks
 * presigned (query-signed) requests as S3 does (presignedVerifier), records what arrived,
 * and answers through a handler the caller chooses. Not part of the plugin.
 */
import http from 'node:http';
import crypto from 'node:crypto';
import { AddressInfo } from 'node:net';
import aws4 from 'aws4';
import { verifyChunkedBody } from './chunkedVerifier';
import { verifyPresigned } from './presignedVerifier';

export interface ReceivedRequest {
  method: string;
  /** The request target exactly as it arrived. */
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Header names in the order and case they arrived (raw). */
  rawHeaderNames: string[];
  /** The payload: for a verified streamed upload, the decoded chunks; else what arrived. */
  body: Buffer;
  /** For a streamed upload (x-amz-content-sha256 STREAMING-...): the body as it arrived. */
  wireBody?: Buffer;
  /** For a streamed upload whose every chunk was verified: how many chunks (final 0-size one included), and their sizes. */
  chunked?: { chunks: number; chunkSizes: number[] };
  /** The request was query-signed (X-Amz-Signature in the URL, no Authorization). */
  presigned?: boolean;
  /** Undefined when the signature was verified; otherwise why it was rejected. */
  signatureError?: string;
  /** The AWS error code AWS would answer for the rejection (ExpiredToken, ...). */
  errorCode?: string;
  service?: string;
  region?: string;
  signedHeaders?: string[];
  /** aws4's canonical request and string to sign for what arrived (when it could compute them). */
  aws4?: Aws4Trace;
  /** The local port of the connection the request came on (to count connections). */
  remotePort?: number;
  /**
   * The access key id the request claims to be signed with (Authorization's `Credential=`,
   * or a presigned URL's `X-Amz-Credential`), verified or not: with LocalSts.sessionOf, which
   * session signed it.
   */
  accessKeyId?: string;
}

/** What aws4, the second implementation, computes for a request as it arrived. */
export interface Aws4Trace {
  canonicalRequest: string;
  stringToSign: string;
}

export type UpstreamHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  received: ReceivedRequest,
) => void;

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/;

/** Credentials an upstream accepts, by access key id; `expiresAt` (ms) makes them temporary. */
export type AcceptedCredentials = Record<
  string,
  { secretAccessKey: string; sessionToken?: string; expiresAt?: number }
>;

/** The x-amz-content-sha256 of a streamed upload whose chunks are signed. */
export const STREAMING_PAYLOAD = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';

/** What a check of a request finds. */
export interface SignatureCheck {
  error?: string;
  code?: string;
  service?: string;
  region?: string;
  signedHeaders?: string[];
  aws4?: Aws4Trace;
  /** A streamed upload's decoded payload, once every chunk is verified. */
  payload?: Buffer;
  chunked?: { chunks: number; chunkSizes: number[] };
  /** The request was query-signed. */
  presigned?: boolean;
}

/**
 * Checks a request however it is signed: a presigned one (no Authorization, X-Amz-Signature
 * in the query) with verifyPresigned, any other with verifySignature.
 */
export function verifyRequest(
  req: { method: string; url: string; headers: http.IncomingHttpHeaders },
  body: Buffer,
  secrets: AcceptedCredentials,
): SignatureCheck {
  if (req.headers.authorization === undefined && /[?&]X-Amz-Signature=/.test(req.url)) {
    return { ...verifyPresigned(req, secrets, Date.now(), body), presigned: true };
  }
  return verifySignature(req, body, secrets);
}

/**
 * Recomputes the request's signature with aws4; returns no error if it matches, else the
 * reason. A streamed upload's seed signature is checked by aws4 (which takes the
 * x-amz-content-sha256 header's value as the payload hash), then each of its chunks.
 */
export function verifySignature(
  req: { method: string; url: string; headers: http.IncomingHttpHeaders },
  body: Buffer,
  secrets: AcceptedCredentials,
): SignatureCheck {
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? AUTH.exec(auth) : null;
  if (!m) {
    return { error: `malformed or missing Authorization: ${auth}` };
  }
  const [, accessKeyId, date, region, service, signedList, signature] = m;
  const creds = Object.hasOwn(secrets, accessKeyId) ? secrets[accessKeyId] : undefined;
  if (!creds) {
    return { error: `unknown access key ${accessKeyId}`, code: 'InvalidAccessKeyId' };
  }
  if (creds.expiresAt !== undefined && Date.now() >= creds.expiresAt) {
    return { error: `the credentials ${accessKeyId} have expired`, code: 'ExpiredToken' };
  }
  const amzDate = req.headers['x-amz-date'];
  if (typeof amzDate !== 'string' || !amzDate.startsWith(date)) {
    return { error: `x-amz-date ${amzDate} does not match the scope date ${date}` };
  }
  const when = Date.parse(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  if (!(Math.abs(Date.now() - when) < 15 * 60 * 1000)) {
    return { error: `x-amz-date ${amzDate} is more than 15 minutes off` };
  }
  if (creds.sessionToken && req.headers['x-amz-security-token'] !== creds.sessionToken) {
    return { error: 'missing or wrong x-amz-security-token' };
  }
  const signedHeaders = signedList.split(';');
  for (const required of ['host', 'x-amz-date']) {
    if (!signedHeaders.includes(required)) {
      return { error: `${required} is not signed` };
    }
  }
  if (creds.sessionToken && !signedHeaders.includes('x-amz-security-token')) {
    return { error: 'x-amz-security-token is not signed' };
  }
  const headers: Record<string, string> = {};
  const include: Record<string, boolean> = {};
  for (const name of signedHeaders) {
    const value = req.headers[name];
    if (value === undefined) {
      return { error: `signed header ${name} did not arrive` };
    }
    headers[name] = Array.isArray(value) ? value.join(',') : value;
    include[name] = true;
  }
  const contentSha = req.headers['x-amz-content-sha256'];
  const streamed = contentSha === STREAMING_PAYLOAD;
  if (typeof contentSha === 'string' && contentSha.startsWith('STREAMING-') && !streamed) {
    return { error: `x-amz-content-sha256 ${contentSha} is not supported here` };
  }
  let decodedLength = 0;
  if (streamed) {
    const encodings = String(req.headers['content-encoding'] ?? '').split(',').map(e => e.trim());
    if (!encodings.includes('aws-chunked')) {
      return { error: `a ${STREAMING_PAYLOAD} body needs Content-Encoding aws-chunked, not ${req.headers['content-encoding']}` };
    }
    const decoded = req.headers['x-amz-decoded-content-length'];
    if (typeof decoded !== 'string' || !/^\d{1,15}$/.test(decoded)) {
      return { error: `a ${STREAMING_PAYLOAD} body needs x-amz-decoded-content-length, not ${decoded}`, code: 'MissingContentLength' };
    }
    if (!signedHeaders.includes('x-amz-decoded-content-length')) {
      return { error: 'x-amz-decoded-content-length is not signed' };
    }
    decodedLength = Number(decoded);
  } else if (contentSha !== undefined && contentSha !== 'UNSIGNED-PAYLOAD') {
    const actual = crypto.createHash('sha256').update(body).digest('hex');
    if (actual !== contentSha) {
      return { error: `x-amz-content-sha256 ${contentSha} is not the hash of the ${body.length} bytes that arrived (${actual})` };
    }
  }
  if (service === 's3' && contentSha === undefined) {
    return { error: 'S3 requires x-amz-content-sha256' };
  }
  const signer = new (aws4 as any).RequestSigner(
    {
      method: req.method,
      host: headers.host,
      path: req.url,
      service,
      region,
      headers,
      body,
      doNotModifyHeaders: true,
      extraHeadersToInclude: include,
    },
    { accessKeyId, secretAccessKey: creds.secretAccessKey },
  );
  signer.datetime = amzDate;
  const expected: string = signer.signature();
  const aws4Trace: Aws4Trace = {
    canonicalRequest: signer.canonicalString(),
    stringToSign: signer.stringToSign(),
  };
  if (expected !== signature) {
    return {
      error: `SignatureDoesNotMatch; aws4's canonical request:\n${aws4Trace.canonicalRequest}`,
      code: 'SignatureDoesNotMatch',
      service,
      region,
      signedHeaders,
      aws4: aws4Trace,
    };
  }
  if (streamed) {
    const chunks = verifyChunkedBody({
      wire: body,
      secretAccessKey: creds.secretAccessKey,
      amzDate,
      scope: `${date}/${region}/${service}/aws4_request`,
      seedSignature: signature,
      decodedLength,
    });
    if ('error' in chunks) {
      return { error: `streamed body: ${chunks.error}`, code: chunks.code, service, region, signedHeaders, aws4: aws4Trace };
    }
    return {
      service,
      region,
      signedHeaders,
      aws4: aws4Trace,
      payload: chunks.payload,
      chunked: { chunks: chunks.chunks, chunkSizes: chunks.chunkSizes },
    };
  }
  return { service, region, signedHeaders, aws4: aws4Trace };
}

/** The access key id in Authorization's `Credential=` or the query's `X-Amz-Credential`. */
function claimedAccessKeyId(req: http.IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  const fromHeader = typeof auth === 'string' ? /Credential=([^/,\s]+)\//.exec(auth)?.[1] : undefined;
  if (fromHeader) return fromHeader;
  const query = (req.url ?? '').split('?')[1];
  const credential = query ? new URLSearchParams(query).get('X-Amz-Credential') : null;
  return credential?.split('/')[0] || undefined;
}

export interface VerifyingUpstream {
  url: string;
  port: number;
  server: http.Server;
  received: ReceivedRequest[];
  /** Remote ports of every connection accepted (one entry per TCP connection). */
  connections: number[];
  handler: UpstreamHandler;
  close(): Promise<void>;
}

/** A handler that answers 200 with a JSON echo of what arrived. */
export const echoHandler: UpstreamHandler = (_req, res, received) => {
  const status = received.signatureError ? 403 : 200;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      method: received.method,
      url: received.url,
      signatureError: received.signatureError,
      bodyLength: received.body.length,
      chunks: received.chunked?.chunks,
      presigned: received.presigned,
    }),
  );
};

/**
 * A handler that answers a rejected request as S3 does (403 and an XML error with the
 * code: ExpiredToken, InvalidAccessKeyId, SignatureDoesNotMatch), and echoes the others.
 */
export const awsErrorHandler: UpstreamHandler = (req, res, received) => {
  if (received.signatureError) {
    res.writeHead(403, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${received.errorCode ?? 'AccessDenied'}</Code><Message>rejected</Message></Error>`);
    return;
  }
  echoHandler(req, res, received);
};

export async function startVerifyingUpstream(
  secrets: AcceptedCredentials,
): Promise<VerifyingUpstream> {
  const received: ReceivedRequest[] = [];
  const connections: number[] = [];
  const upstream: Partial<VerifyingUpstream> = {
    received,
    connections,
    handler: echoHandler,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const names: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) names.push(req.rawHeaders[i]);
      const check = verifyRequest(
        { method: req.method!, url: req.url!, headers: req.headers },
        body,
        secrets,
      );
      const streamed = req.headers['x-amz-content-sha256'] === STREAMING_PAYLOAD;
      const entry: ReceivedRequest = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        rawHeaderNames: names,
        body: check.payload ?? body,
        ...(streamed && { wireBody: body }),
        ...(check.chunked && { chunked: check.chunked }),
        ...(check.presigned && { presigned: true }),
        signatureError: check.error,
        errorCode: check.code,
        service: check.service,
        region: check.region,
        signedHeaders: check.signedHeaders,
        aws4: check.aws4,
        remotePort: req.socket.remotePort,
        accessKeyId: claimedAccessKeyId(req),
      };
      received.push(entry);
      upstream.handler!(req, res, entry);
    });
  });
  server.on('connection', socket => connections.push(socket.remotePort!));
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(upstream, {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  }) as VerifyingUpstream;
}

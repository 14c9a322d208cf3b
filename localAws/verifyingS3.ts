/*
 * An S3 that checks signatures (for the tests and the demo): s3rver stores the objects, and
 * in front of it a verifier recomputes each request's SigV4 signature with aws4 and refuses
 * mismatches with S3's own SignatureDoesNotMatch. (s3rver 3.x checks V2 signatures but
 * accepts any V4 one, so it cannot be the judge alone.) Streamed uploads have every chunk
 * verified and reach s3rver decoded (s3rver would store the aws-chunked framing); presigned
 * requests are verified as S3 does and reach s3rver header-signed, so that a presigned GET
 * or PUT reads or writes the object. Not part of the plugin.
 */
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { AddressInfo } from 'node:net';
import S3rver from 's3rver';
import { AcceptedCredentials, SignatureCheck, verifyRequest } from './verifyingUpstream';

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface VerifyingS3 {
  url: string;
  /** Signature failures seen, with aws4's canonical request. */
  rejected: string[];
  /** Requests that passed the check. */
  accepted: number;
  /** Streamed uploads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) accepted, each chunk verified. */
  streamed: { method: string; url: string; chunks: number; decodedLength: number }[];
  /** Presigned (query-signed) requests accepted. */
  presigned: { method: string; url: string }[];
  close(): Promise<void>;
}

export interface VerifyingS3Options {
  /** Port of the verifying front; 0 (default) for any free port. */
  port?: number;
  /** Objects to create before serving, keyed by `bucket/key`. */
  seed?: Record<string, string>;
  /** More credentials to accept besides s3rver's own (those a local STS issues, say). */
  accepted?: AcceptedCredentials;
}

/**
 * s3rver knows only its own access key (it checks the key id, not V4 signatures): once the
 * front has verified a request, it is passed on as signed by that key.
 */
function asS3rverCaller(headers: http.IncomingHttpHeaders): http.IncomingHttpHeaders {
  const { 'x-amz-security-token': _token, ...rest } = headers;
  return {
    ...rest,
    authorization: String(headers.authorization).replace(
      /Credential=[^/]+\//,
      `Credential=${S3RVER_CREDENTIALS.accessKeyId}/`,
    ),
  };
}

/** The query parameters of a presigned request, which s3rver is not to see. */
const PRESIGN_PARAMS = new Set([
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-signedheaders',
  'x-amz-signature',
  'x-amz-security-token',
  'x-amz-content-sha256',
]);

/**
 * What s3rver is sent for a request the front has verified: a streamed upload decoded
 * (as S3 stores it: without aws-chunked in its Content-Encoding), a presigned request as a
 * header-signed one (its X-Amz-* parameters out of the query, s3rver's key in the header).
 */
function forS3rver(
  req: http.IncomingMessage,
  body: Buffer,
  check: SignatureCheck,
): { path: string; headers: http.IncomingHttpHeaders; body: Buffer } {
  if (check.presigned) {
    const [pathname, query = ''] = req.url!.split('?', 2);
    const kept = query
      .split('&')
      .filter(p => p !== '' && !PRESIGN_PARAMS.has(decodeURIComponent(p.split('=')[0]).toLowerCase()));
    const amzDate = new Date().toISOString().replace(/[:-]|\.\d{3}/g, '');
    return {
      path: kept.length ? `${pathname}?${kept.join('&')}` : pathname,
      headers: {
        ...req.headers,
        'x-amz-date': amzDate,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        authorization: `AWS4-HMAC-SHA256 Credential=${S3RVER_CREDENTIALS.accessKeyId}/${amzDate.slice(0, 8)}/${check.region}/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`,
      },
      body,
    };
  }
  const headers = asS3rverCaller(req.headers);
  if (check.payload) {
    const encodings = String(headers['content-encoding'])
      .split(',')
      .map(e => e.trim())
      .filter(e => e !== 'aws-chunked');
    const {
      'x-amz-decoded-content-length': _decoded,
      'content-encoding': _encoding,
      'transfer-encoding': _transfer,
      ...rest
    } = headers;
    return {
      path: req.url!,
      headers: {
        ...rest,
        ...(encodings.length > 0 && { 'content-encoding': encodings.join(', ') }),
        'content-length': String(check.payload.length),
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      },
      body: check.payload,
    };
  }
  return { path: req.url!, headers, body };
}

export async function startVerifyingS3(
  buckets: string[],
  options: VerifyingS3Options = {},
): Promise<VerifyingS3> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 's3rver-'));
  const s3rver = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map(name => ({ name, configs: [] })),
  } as any);
  const { port: s3Port } = (await s3rver.run()) as AddressInfo;
  for (const [objectPath, content] of Object.entries(options.seed ?? {})) {
    // Seeded straight into the emulator, not through the verifier.
    await new Promise<void>((resolve, reject) => {
      const put = http.request(
        { host: '127.0.0.1', port: s3Port, method: 'PUT', path: `/${objectPath}`, headers: { 'content-length': Buffer.byteLength(content), 'content-type': 'text/plain' } },
        res => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`seeding ${objectPath}: ${res.statusCode}`))));
        },
      );
      put.on('error', reject);
      put.end(content);
    });
  }
  const state: VerifyingS3 = {
    url: '',
    rejected: [],
    accepted: 0,
    streamed: [],
    presigned: [],
    close: async () => {},
  };

  const front = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const check = verifyRequest(
        { method: req.method!, url: req.url!, headers: req.headers },
        body,
        { ...options.accepted, [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS },
      );
      if (check.error || check.service !== 's3') {
        state.rejected.push(`${req.method} ${req.url}: ${check.error ?? `signed for ${check.service}`}`);
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${check.code ?? 'SignatureDoesNotMatch'}</Code></Error>`);
        return;
      }
      state.accepted++;
      if (check.chunked) {
        state.streamed.push({ method: req.method!, url: req.url!, chunks: check.chunked.chunks, decodedLength: check.payload!.length });
      }
      if (check.presigned) state.presigned.push({ method: req.method!, url: req.url! });
      const forward = forS3rver(req, body, check);
      const inner = http.request(
        { host: '127.0.0.1', port: s3Port, method: req.method, path: forward.path, headers: forward.headers },
        innerRes => {
          res.writeHead(innerRes.statusCode!, innerRes.headers);
          innerRes.pipe(res);
        },
      );
      inner.on('error', e => res.destroy(e));
      inner.end(forward.body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (front.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${port}`;
  state.close = async () => {
    front.closeAllConnections();
    await new Promise(r => front.close(r));
    await s3rver.close();
    fs.rmSync(directory, { recursive: true, force: true });
  };
  return state;
}

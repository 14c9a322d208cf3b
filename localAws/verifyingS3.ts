/*
 * An S3 that checks signatures (for the tests and the demo): s3rver stores the objects, and
 * in front of it a verifier recomputes each request's SigV4 signature with aws4 and refuses
 * mismatches with S3's own SignatureDoesNotMatch. (s3rver 3.x checks V2 signatures but
 * accepts any V4 one, so it cannot be the judge alone.) Not part of the plugin.
 */
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { AddressInfo } from 'node:net';
import S3rver from 's3rver';
import { AcceptedCredentials, verifySignature } from './verifyingUpstream';

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface VerifyingS3 {
  url: string;
  /** Signature failures seen, with aws4's canonical request. */
  rejected: string[];
  /** Requests that passed the check. */
  accepted: number;
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
  const state: VerifyingS3 = { url: '', rejected: [], accepted: 0, close: async () => {} };

  const front = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const check = verifySignature(
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
      const inner = http.request(
        { host: '127.0.0.1', port: s3Port, method: req.method, path: req.url, headers: asS3rverCaller(req.headers) },
        innerRes => {
          res.writeHead(innerRes.statusCode!, innerRes.headers);
          innerRes.pipe(res);
        },
      );
      inner.on('error', e => res.destroy(e));
      inner.end(body);
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

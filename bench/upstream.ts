/*
 * The benchmark's upstream, run as its own process: HTTP and HTTPS (certificate given by the
 * orchestrator) on loopback. It answers small JSON, streams N bytes, takes uploads, and
 * counts the TCP connections it accepts. It checks no signatures: it must not be the
 * bottleneck. So it serves a presigned GET (query-signed) as any other GET: the query is
 * ignored.
 *
 *   GET  …/small            a small JSON document
 *   GET  …/bytes/<n>        n bytes, streamed in 64 KiB chunks, with a Content-Length
 *   PUT  …/upload/…         reads the body, answers its length; a chunk-signed body
 *                           (Content-Encoding aws-chunked) has its framing checked as it
 *                           streams (bench/chunkedFraming.ts) and answers its payload's
 *                           length, or 400 when the framing or x-amz-decoded-content-length
 *                           is wrong
 *   GET  /_stats            connections accepted so far
 */
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import { AddressInfo } from 'node:net';
import { ChunkedFraming } from './chunkedFraming';

const SMALL = Buffer.from(
  JSON.stringify({ id: 'item-0001', name: 'small', tags: ['a', 'b'], size: 42, ok: true }),
);
const CHUNK = Buffer.alloc(64 * 1024, 'x');
let connections = 0;

/** Content-Encoding names aws-chunked: the proxy's framing of a chunk-signed upload. */
const awsChunked = (req: http.IncomingMessage) =>
  String(req.headers['content-encoding'] ?? '')
    .split(',')
    .some(c => c.trim().toLowerCase() === 'aws-chunked');

/** Reads an upload and answers its (payload's) length; see the module comment. */
function upload(req: http.IncomingMessage, res: http.ServerResponse) {
  const answer = (status: number, body: object) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  let bytes = 0;
  if (!awsChunked(req)) {
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => answer(200, { bytes }));
    return;
  }
  const framing = new ChunkedFraming();
  req.on('data', (c: Buffer) => {
    bytes += c.length;
    framing.update(c);
  });
  req.on('end', () => {
    const error =
      req.headers['x-amz-content-sha256'] === 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'
        ? framing.finish(Number(req.headers['x-amz-decoded-content-length']))
        : `x-amz-content-sha256 is ${req.headers['x-amz-content-sha256']} on an aws-chunked body`;
    if (error) answer(400, { error });
    else answer(200, { bytes: framing.decoded, wire: bytes, chunks: framing.chunks });
  });
}

function handle(req: http.IncomingMessage, res: http.ServerResponse) {
  const url = req.url ?? '/';
  if (url === '/_stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ connections }));
    return;
  }
  if (req.method === 'PUT' || req.method === 'POST') {
    upload(req, res);
    return;
  }
  // A presigned GET's query (X-Amz-Signature, ...) is not looked at.
  const pathname = url.split('?')[0];
  const m = /\/bytes\/(\d+)$/.exec(pathname);
  if (m) {
    let left = Number(m[1]);
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(left),
    });
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        const more = res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
        if (!more && left > 0) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  if (pathname.endsWith('/small')) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': SMALL.length });
    res.end(SMALL);
    return;
  }
  res.writeHead(404);
  res.end();
}

async function main() {
  process.once('disconnect', () => process.exit(0)); // the orchestrator has gone
  const [certFile, keyFile] = process.argv.slice(2);
  const plain = http.createServer({ keepAliveTimeout: 5000 }, handle);
  const secure = https.createServer(
    { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile), keepAliveTimeout: 5000 },
    handle,
  );
  const count = () => {
    connections++;
  };
  plain.on('connection', count);
  secure.on('connection', count);
  await new Promise<void>(r => plain.listen(0, '127.0.0.1', r));
  // The https server also counts TLS connections (secureConnection follows connection).
  await new Promise<void>(r => secure.listen(0, '127.0.0.1', r));
  process.stdout.write(
    `${JSON.stringify({
      ready: true,
      http: (plain.address() as AddressInfo).port,
      https: (secure.address() as AddressInfo).port,
    })}\n`,
  );
}

main().catch(error => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});

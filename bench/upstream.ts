/*
 * The benchmark's upstream, run as its own process: HTTP and HTTPS (certificate given by the
 * orchestrator) on loopback. It answers small JSON, streams N bytes, takes uploads, and
 * counts the TCP connections it accepts. It checks no signatures: it must not be the
 * bottleneck.
 *
 *   GET  …/small            a small JSON document
 *   GET  …/bytes/<n>        n bytes, streamed in 64 KiB chunks, with a Content-Length
 *   PUT  …/upload/…         reads the body, answers its length
 *   GET  /_stats            connections accepted so far
 */
import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import { AddressInfo } from 'node:net';

const SMALL = Buffer.from(
  JSON.stringify({ id: 'item-0001', name: 'small', tags: ['a', 'b'], size: 42, ok: true }),
);
const CHUNK = Buffer.alloc(64 * 1024, 'x');
let connections = 0;

function handle(req: http.IncomingMessage, res: http.ServerResponse) {
  const url = req.url ?? '/';
  if (url === '/_stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ connections }));
    return;
  }
  if (req.method === 'PUT' || req.method === 'POST') {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ bytes }));
    });
    return;
  }
  const m = /\/bytes\/(\d+)$/.exec(url);
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
  if (url.endsWith('/small')) {
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

/*
 * The load test's other side (bench/load.ts), run as its own process on loopback: a
 * credentials endpoint and a signature-checking upstream that share one map of accepted
 * credentials.
 *
 * - The credentials endpoint (POST, any path) hands out a NEW access key on every call,
 *   with a session token and an expiry LIFETIME_MS out, and adds it to the map.
 * - The upstream checks every request's SigV4 signature with `verifySignature`
 *   (localAws/verifyingUpstream.ts, aws4, independent of the plugin's signer)
 *   against that map. As AWS does, it judges the key's expiry when the request's headers
 *   arrive; a body it must hash is read first, then the signature is checked. A rejection
 *   is answered as S3 answers it (403 and an XML error code), and counted.
 *
 *   GET  /api/small                  a small JSON document
 *   GET  /bucket/bytes/<seed>/<n>    n bytes of the seeded pattern, streamed, with a length
 *   PUT  /signed/upload/<seed>       a signed upload, read whole: above 64 KiB the proxy sends
 *                                    it chunk-signed (aws-chunked), and every chunk's signature
 *                                    is checked (localAws' chunk verifier), below it the
 *                                    payload hash; then its (decoded) bytes against the pattern
 *   PUT  /bucket/upload/<seed>       a streamed upload (UNSIGNED-PAYLOAD): signature checked
 *                                    at the headers, bytes checked against the pattern as
 *                                    they stream, length against Content-Length
 *
 * Over IPC it answers 'stats' (counters and open connections) and 'reset' (zeroes the
 * counters, after the warm-up).
 */
import http from 'node:http';
import crypto from 'node:crypto';
import { AddressInfo, Socket } from 'node:net';
import { AcceptedCredentials, verifySignature } from '../localAws';
import { PatternChecker, patternChunk } from './pattern';

const LIFETIME_MS = Number(process.argv[2] ?? 6000);
const SMALL = Buffer.from(
  JSON.stringify({ id: 'item-0001', name: 'small', tags: ['a', 'b'], size: 42, ok: true }),
);

const accepted: AcceptedCredentials = {};

/** Counters since the last 'reset'. */
let stats = fresh();
function fresh() {
  return {
    keysIssued: 0,
    keysUsed: new Set<string>(),
    verified: {} as Record<string, number>,
    /** By kind, then by reason (the AWS error code, or what was wrong with the body). */
    rejected: {} as Record<string, Record<string, number>>,
    /** One example message per reason, to say what went wrong. */
    examples: {} as Record<string, string>,
  };
}

const kindOf = (url: string) => {
  if (url.startsWith('/api/small')) return 'small';
  if (url.startsWith('/bucket/bytes/')) return 'download';
  if (url.startsWith('/signed/upload/')) return 'signed upload';
  if (url.startsWith('/bucket/upload/')) return 'streamed upload';
  return 'other';
};

function reject(req: http.IncomingMessage, res: http.ServerResponse, code: string, message: string) {
  const kind = kindOf(req.url ?? '');
  const byReason = (stats.rejected[kind] ??= {});
  byReason[code] = (byReason[code] ?? 0) + 1;
  stats.examples[`${kind}: ${code}`] ??= message.split('\n')[0].slice(0, 300);
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(code === 'BadBody' ? 400 : 403, { 'content-type': 'application/xml', connection: 'close' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>rejected</Message></Error>`);
  // The rest of a rejected body is not read: the connection closes after the answer.
  req.resume();
}

/**
 * Answers an upload whose whole body the checker has read: 200 with its size, or BadBody
 * when a byte differs from the pattern or the size from the declared length (for a
 * chunk-signed upload, x-amz-decoded-content-length; else Content-Length).
 */
function answerUpload(req: http.IncomingMessage, res: http.ServerResponse, checker: PatternChecker) {
  const declared = Number(req.headers['x-amz-decoded-content-length'] ?? req.headers['content-length']);
  if (checker.mismatchAt !== undefined || checker.length !== declared) {
    reject(req, res, 'BadBody', `${checker.length} bytes (declared ${declared}), pattern mismatch at ${checker.mismatchAt}`);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ bytes: checker.length }));
}

/** The credentials, without the expiry: judged at the headers, not after a body was read. */
function unexpiring(accessKeyId: string): AcceptedCredentials {
  const { secretAccessKey, sessionToken } = accepted[accessKeyId];
  return { [accessKeyId]: { secretAccessKey, sessionToken } };
}

function handle(req: http.IncomingMessage, res: http.ServerResponse) {
  const url = req.url ?? '/';
  const kind = kindOf(url);
  // 1. At the headers: a known key, not expired (what AWS checks first).
  const auth = String(req.headers.authorization ?? '');
  const accessKeyId = /Credential=([^/]+)\//.exec(auth)?.[1] ?? '';
  if (!Object.hasOwn(accepted, accessKeyId)) {
    reject(req, res, 'InvalidAccessKeyId', `unknown access key '${accessKeyId}'`);
    return;
  }
  const expiresAt = accepted[accessKeyId].expiresAt!;
  const now = Date.now();
  if (now >= expiresAt) {
    reject(req, res, 'ExpiredToken', `${accessKeyId} arrived ${now - expiresAt} ms after its expiry`);
    return;
  }
  /** The check, or undefined when the request was rejected (and answered). */
  const verify = (body: Buffer) => {
    const check = verifySignature(
      { method: req.method!, url, headers: req.headers },
      body,
      unexpiring(accessKeyId),
    );
    if (check.error) {
      reject(req, res, check.code ?? 'SignatureRejected', check.error);
      return undefined;
    }
    stats.keysUsed.add(accessKeyId);
    stats.verified[kind] = (stats.verified[kind] ?? 0) + 1;
    return check;
  };
  const seed = Number(/\/(\d+)(?:\/\d+)?$/.exec(url)?.[1] ?? 0);

  if (kind === 'small' && req.method === 'GET') {
    if (!verify(Buffer.alloc(0))) return;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': SMALL.length });
    res.end(SMALL);
    return;
  }

  if (kind === 'download' && req.method === 'GET') {
    if (!verify(Buffer.alloc(0))) return;
    let sent = 0;
    const total = Number(/\/(\d+)$/.exec(url)![1]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
    const pump = () => {
      while (sent < total) {
        const chunk = patternChunk(seed, sent, Math.min(64 * 1024, total - sent));
        sent += chunk.length;
        if (!res.write(chunk) && sent < total) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }

  if (kind === 'signed upload' && req.method === 'PUT') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const check = verify(body);
      if (!check) return;
      const checker = new PatternChecker(seed);
      // A chunk-signed body's payload, decoded once every chunk was verified.
      checker.update(check.payload ?? body);
      answerUpload(req, res, checker);
    });
    return;
  }

  if (kind === 'streamed upload' && req.method === 'PUT') {
    if (req.headers['x-amz-content-sha256'] !== 'UNSIGNED-PAYLOAD') {
      reject(req, res, 'NotUnsigned', `x-amz-content-sha256 is ${req.headers['x-amz-content-sha256']}`);
      return;
    }
    if (!verify(Buffer.alloc(0))) return;
    const checker = new PatternChecker(seed);
    req.on('data', (c: Buffer) => checker.update(c));
    req.on('end', () => answerUpload(req, res, checker));
    return;
  }

  reject(req, res, 'NoSuchRoute', `${req.method} ${url}`);
}

/** POST: a new key, secret and session token, valid for LIFETIME_MS. */
function credentials(req: http.IncomingMessage, res: http.ServerResponse) {
  req.resume();
  req.on('end', () => {
    if (req.method !== 'POST') {
      res.writeHead(405);
      res.end();
      return;
    }
    const now = Date.now();
    // Keys long expired are dropped: the map stays small, and they are unknown from then on.
    for (const [key, value] of Object.entries(accepted)) {
      if (value.expiresAt! < now - 60_000) delete accepted[key];
    }
    const accessKeyId = `ASIALOAD${crypto.randomBytes(6).toString('hex').toUpperCase()}`;
    const secretAccessKey = crypto.randomBytes(30).toString('base64');
    const sessionToken = crypto.randomBytes(48).toString('base64');
    const expiresAt = now + LIFETIME_MS;
    accepted[accessKeyId] = { secretAccessKey, sessionToken, expiresAt };
    stats.keysIssued += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ accessKeyId, secretAccessKey, sessionToken, expiresAt: new Date(expiresAt).toISOString() }));
  });
}

/** Open connections of a server, kept as a set (not getConnections: it is asynchronous). */
function tracked(server: http.Server): Set<Socket> {
  const open = new Set<Socket>();
  server.on('connection', socket => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return open;
}

async function main() {
  process.once('disconnect', () => process.exit(0)); // the orchestrator has gone
  const upstream = http.createServer({ keepAliveTimeout: 5000 }, handle);
  const endpoint = http.createServer({ keepAliveTimeout: 5000 }, credentials);
  const upstreamOpen = tracked(upstream);
  const endpointOpen = tracked(endpoint);
  process.on('message', message => {
    if (message === 'reset') {
      stats = fresh();
      process.send?.({ reset: true });
    } else if (message === 'stats') {
      process.send?.({
        stats: {
          keysIssued: stats.keysIssued,
          keysUsed: stats.keysUsed.size,
          verified: stats.verified,
          rejected: stats.rejected,
          examples: stats.examples,
          upstreamOpen: upstreamOpen.size,
          endpointOpen: endpointOpen.size,
        },
      });
    }
  });
  await new Promise<void>(r => upstream.listen(0, '127.0.0.1', r));
  await new Promise<void>(r => endpoint.listen(0, '127.0.0.1', r));
  process.stdout.write(
    `${JSON.stringify({
      ready: true,
      upstream: (upstream.address() as AddressInfo).port,
      endpoint: (endpoint.address() as AddressInfo).port,
    })}\n`,
  );
}

main().catch(error => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});

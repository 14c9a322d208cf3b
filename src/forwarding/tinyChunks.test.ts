/*
 * Bodies in tiny pieces (issue 13, finding 2): an upload sent as 1-byte chunks, buffered or
 * streamed, and an upstream answering a byte at a time, through a real Backstage test backend.
 * Kept as they came, each piece cost about 375 bytes (1 MB of body: +357 MB); now memory stays
 * within a small multiple of the body, and the pieces leave in a few large writes.
 */
import http from 'node:http';
import net, { AddressInfo } from 'node:net';
import crypto from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { connectRaw } from '../__testUtils__/rawSocket';
import { debugCost } from '../__testUtils__/debugCost';
import { verifySignature } from '../../localAws';
import { RunningProxy, startProxy, TEST_CREDENTIALS, USER } from '../__testUtils__/startProxy';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const P = '/api/proxy-sigv4';
/** The body: 2 MB, each byte its own chunk. */
const SIZE = 2 * 1024 * 1024;
const BODY = Buffer.alloc(SIZE);
for (let i = 0; i < SIZE; i++) BODY[i] = 32 + (i % 95);
const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** `bytes` in chunked framing, one byte a chunk: `1\r\nX\r\n` each, then the last chunk. */
function oneByteChunks(bytes: Buffer): Buffer {
  const out = Buffer.alloc(bytes.length * 6 + 5);
  for (let i = 0; i < bytes.length; i++) {
    const at = i * 6;
    out[at] = 0x31; // '1'
    out[at + 1] = 0x0d;
    out[at + 2] = 0x0a;
    out[at + 3] = bytes[i];
    out[at + 4] = 0x0d;
    out[at + 5] = 0x0a;
  }
  out.write('0\r\n\r\n', bytes.length * 6, 'latin1');
  return out;
}
const WIRE = oneByteChunks(BODY);

/**
 * Runs `work` while measuring, every 250 ms, what the heap and Buffers hold after a full
 * collection; returns how far that rose above where it was before. Collected first, so that
 * garbage (which a 1-byte chunk makes plenty of, and V8 collects when it likes) does not count:
 * what is measured is what the request keeps.
 */
async function growthDuring<T>(work: () => Promise<T>): Promise<{ value: T; growth: number }> {
  const kept = () => {
    gc();
    const { heapUsed, arrayBuffers } = process.memoryUsage();
    return heapUsed + arrayBuffers;
  };
  const base = kept();
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, kept());
  }, 250);
  try {
    const value = await work();
    return { value, growth: peak - base };
  } finally {
    clearInterval(sampler);
  }
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** What the upstream saw of one request; it keeps a hash of the body, not the body. */
interface Arrival {
  url: string;
  /** Body 'data' events: for a chunked upload, one per write the proxy made. */
  pieces: number;
  bytes: number;
  sha256: string;
  signatureError?: string;
}

let upstream: http.Server;
let arrivals: Arrival[];
/** Answers every request with the body in 1-byte chunks (raw: Node's server would batch them). */
let dribbler: net.Server;
let proxy: RunningProxy;

beforeAll(async () => {
  arrivals = [];
  upstream = http.createServer((req, res) => {
    const hash = crypto.createHash('sha256');
    const arrival: Arrival = { url: req.url!, pieces: 0, bytes: 0, sha256: '' };
    req.on('data', (chunk: Buffer) => {
      arrival.pieces += 1;
      arrival.bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      arrival.sha256 = hash.digest('hex');
      // The signature covers the payload hash: checked with aws4 over the body it should be.
      const body = arrival.sha256 === sha256(BODY) ? BODY : Buffer.alloc(0);
      arrival.signatureError = verifySignature(
        { method: req.method!, url: req.url!, headers: req.headers },
        body,
        { [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS },
      ).error;
      arrivals.push(arrival);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>(r => upstream.listen(0, '127.0.0.1', r));
  dribbler = net.createServer(socket => {
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n');
      socket.end(WIRE);
    });
  });
  await new Promise<void>(r => dribbler.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const dribblerUrl = `http://127.0.0.1:${(dribbler.address() as AddressInfo).port}`;
  proxy = await startProxy({
    '/api': { target: `${url}/prod`, service: 'execute-api', region: 'eu-west-1' },
    '/s3stream': { target: `${url}/bucket`, service: 's3', region: 'us-east-1', unsignedPayload: true },
    '/dribble': { target: `${dribblerUrl}/`, service: 'execute-api', region: 'eu-west-1' },
  });
});

afterAll(async () => {
  await proxy.stop();
  upstream.closeAllConnections();
  await new Promise(r => upstream.close(r));
  await new Promise(r => dribbler.close(r));
});

beforeEach(() => {
  arrivals = [];
});

/** Sends a chunked request whose body is `wire` (already framed), and reads the whole answer. */
async function send(method: string, path: string, wire: Buffer | undefined) {
  const conn = await connectRaw(Number(new URL(proxy.baseUrl).port));
  const head =
    `${method} ${P}${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: ${USER}\r\n` +
    `${wire ? 'transfer-encoding: chunked\r\n' : ''}connection: close\r\n\r\n`;
  await conn.write(head);
  if (wire) await conn.write(wire);
  await conn.closed;
  const [response] = conn.responses();
  return { response, wireBytes: conn.received().length };
}

/** About twice the body (the proxy's copy, and the test client's copy of an answer), and some. */
const BOUND = 2 * SIZE + 4 * 1024 * 1024;

it('a buffered upload in 1-byte chunks costs memory in proportion to its bytes, and is signed over exactly those bytes', async () => {
  const { value, growth } = await growthDuring(() => send('PUT', '/api/tiny', WIRE));
  debugCost(`buffered upload of ${mib(SIZE)} in 1-byte chunks: memory grew ${mib(growth)}`);
  expect(value.response.status).toBe(200);
  expect(arrivals).toHaveLength(1);
  expect(arrivals[0]).toMatchObject({ url: '/prod/tiny', bytes: SIZE, sha256: sha256(BODY), signatureError: undefined });
  expect(growth).toBeLessThan(BOUND);
}, 120_000);

it('a streamed upload in 1-byte chunks costs memory in proportion to its bytes, and reaches the upstream in a few large writes', async () => {
  const { value, growth } = await growthDuring(() => send('PUT', '/s3stream/tiny.bin', WIRE));
  debugCost(`streamed upload of ${mib(SIZE)} in 1-byte chunks: memory grew ${mib(growth)}, ${arrivals[0]?.pieces} writes upstream`);
  expect(value.response.status).toBe(200);
  expect(arrivals).toHaveLength(1);
  expect(arrivals[0]).toMatchObject({ url: '/bucket/tiny.bin', bytes: SIZE, sha256: sha256(BODY), signatureError: undefined });
  // Each write upstream is an HTTP chunk of its own; before the fix, one per byte.
  expect(arrivals[0].pieces).toBeLessThan(SIZE / 1000);
  expect(growth).toBeLessThan(BOUND);
}, 120_000);

it('an answer in 1-byte chunks costs memory in proportion to its bytes, and reaches the caller in large chunks', async () => {
  const { value, growth } = await growthDuring(() => send('GET', '/dribble/x', undefined));
  debugCost(`answer of ${mib(SIZE)} in 1-byte chunks: memory grew ${mib(growth)}, ${value.wireBytes} bytes to the caller`);
  expect(value.response.status).toBe(200);
  expect(Buffer.from(value.response.body, 'latin1').equals(BODY)).toBe(true);
  // Passed on a byte at a time, a chunked answer takes six bytes on the wire per byte.
  expect(value.wireBytes).toBeLessThan(SIZE * 1.05);
  expect(growth).toBeLessThan(BOUND);
}, 120_000);

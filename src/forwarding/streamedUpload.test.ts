/*
 * A streamed (unsigned-payload) upload asks the upstream `Expect: 100-continue` before it
 * sends the body, as the AWS SDKs do: through a real Backstage test backend, against real
 * upstreams that answer the expectation in each of the ways a server may.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import {
  RunningProxy,
  startProxy,
  TEST_CREDENTIALS,
  USER,
} from '../__testUtils__/startProxy';
import { verifySignature } from '../../localAws';
import { CONTINUE_WAIT_MS } from './forward';

const P = '/api/proxy-sigv4';
const BODY = Buffer.alloc(8 * 1024 * 1024, 'a');
const DENIED =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>';

type Mode = 'deny-before-body' | 'continue' | 'ignore-expect' | 'reset-reused';

interface Seen {
  expect?: string;
  signatureError?: string;
  bodyBytes: number;
}

let mode: Mode;
let seen: Seen[] = [];
/** Requests seen on each upstream connection. */
const perConnection = new WeakMap<object, number>();
/** In 'reset-reused' mode: resets a connection at its second request, before answering. */
function resetIfReused(req: http.IncomingMessage): boolean {
  const count = (perConnection.get(req.socket) ?? 0) + 1;
  perConnection.set(req.socket, count);
  if (mode === 'reset-reused' && count > 1) {
    req.socket.destroy();
    return true;
  }
  return false;
}
let upstream: http.Server;
let proxy: RunningProxy;

function reader(req: http.IncomingMessage, res: http.ServerResponse, entry: Seen) {
  req.on('data', (c: Buffer) => {
    entry.bodyBytes += c.length;
  });
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ bodyBytes: entry.bodyBytes }));
  });
}

beforeAll(async () => {
  upstream = http.createServer();
  // Called instead of 'request' when the request says Expect: 100-continue.
  upstream.on('checkContinue', (req, res) => {
    const entry: Seen = {
      expect: req.headers.expect as string,
      signatureError: verifySignature(
        { method: req.method!, url: req.url!, headers: req.headers },
        Buffer.alloc(0),
        { [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS },
      ).error,
      bodyBytes: 0,
    };
    seen.push(entry);
    if (resetIfReused(req)) return;
    if (mode === 'deny-before-body') {
      // As S3 does for a request it will not accept: the answer, no 100, and the connection closed.
      res.writeHead(403, { 'content-type': 'application/xml', connection: 'close' });
      res.end(DENIED);
      return;
    }
    if (mode === 'continue' || mode === 'reset-reused') res.writeContinue();
    // 'ignore-expect': read whatever comes, without a 100.
    reader(req, res, entry);
  });
  upstream.on('request', (req, res) => {
    const entry: Seen = { bodyBytes: 0 };
    seen.push(entry);
    if (resetIfReused(req)) return;
    reader(req, res, entry);
  });
  await new Promise<void>(r => upstream.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  proxy = await startProxy({
    '/stream': { target: `${url}/bucket`, service: 's3', region: 'us-east-1', unsignedPayload: true },
    '/quick': { target: `${url}/bucket`, service: 's3', region: 'us-east-1', unsignedPayload: true, timeout: 600 },
    '/plain': { target: `${url}/api`, service: 'execute-api', region: 'eu-west-1' },
  });
});

afterAll(async () => {
  await proxy.stop();
  upstream.closeAllConnections();
  await new Promise(r => upstream.close(r));
});

beforeEach(() => {
  seen = [];
});

/** PUTs the 8 MiB body with a raw client, so that an early answer can be seen as it is. */
function put(
  route = '/stream',
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${proxy.baseUrl}${P}${route}/key`, {
      method: 'PUT',
      headers: { authorization: USER, 'content-length': String(BODY.length) },
    });
    req.on('response', res => {
      const chunks: Buffer[] = [];
      res.on('data', c => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          body: Buffer.concat(chunks).toString(),
          headers: res.headers,
          ms: Date.now() - started,
        }),
      );
    });
    // The proxy may close the connection before the whole upload was written.
    req.on('error', e => (['EPIPE', 'ECONNRESET'].includes((e as NodeJS.ErrnoException).code!) ? undefined : reject(e)));
    req.end(BODY);
  });
}

it("passes back the upstream's refusal before the body, instead of a 502 after a reset mid-upload", async () => {
  mode = 'deny-before-body';
  const res = await put();
  expect(res.status).toBe(403);
  expect(res.body).toBe(DENIED);
  // The caller's unread upload ends with the connection.
  expect(res.headers.connection).toBe('close');
  expect(seen).toHaveLength(1);
  expect(seen[0]).toMatchObject({ expect: '100-continue', signatureError: undefined, bodyBytes: 0 });
});

it('sends the body on 100 Continue, at once', async () => {
  mode = 'continue';
  const res = await put();
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toEqual({ bodyBytes: BODY.length });
  expect(seen).toEqual([{ expect: '100-continue', signatureError: undefined, bodyBytes: BODY.length }]);
});

it('sends the body anyway, after a wait, to an upstream that ignores the expectation', async () => {
  mode = 'ignore-expect';
  const res = await put();
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toEqual({ bodyBytes: BODY.length });
  expect(res.ms).toBeGreaterThanOrEqual(CONTINUE_WAIT_MS - 50);
});

it('keeps working after the refusals: the refused requests left no broken pooled connection', async () => {
  mode = 'deny-before-body';
  expect((await put()).status).toBe(403);
  expect((await put()).status).toBe(403);
  mode = 'continue';
  const res = await put();
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toEqual({ bodyBytes: BODY.length });
});

it("waits for the go-ahead no longer than half the route's timeout", async () => {
  mode = 'ignore-expect';
  const res = await put('/quick');
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toEqual({ bodyBytes: BODY.length });
});

describe('a pooled connection the upstream resets as the request arrives', () => {
  it('is retried on a new connection for a streamed upload that has not started its body', async () => {
    mode = 'continue';
    expect((await put()).status).toBe(200); // leaves a pooled connection
    mode = 'reset-reused';
    const res = await put();
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ bodyBytes: BODY.length });
    // The reset request got no body; its retry got all of it.
    expect(seen.map(e => e.bodyBytes)).toEqual([BODY.length, 0, BODY.length]);
  });

  it('is retried on a new connection for a GET', async () => {
    mode = 'continue';
    const get = () => proxy.http().get(`${P}/plain/x`).set('authorization', USER);
    expect((await get()).status).toBe(200);
    mode = 'reset-reused';
    expect((await get()).status).toBe(200);
    expect(seen).toHaveLength(3);
  });
});

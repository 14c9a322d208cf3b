/*
 * forward() on its own, as an embedder would call it: a plain Node server in front, no
 * Backstage and no process-wide error handler, against raw TCP upstreams that answer
 * exactly the bytes a test gives them.
 */
import http from 'node:http';
import net, { AddressInfo } from 'node:net';
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { createAgent, forward, ForwardOptions, SignedRequest } from './forward';
import { statusOf } from './errors';

/** A session token as STS issues them (base64, with `+`, `/` and `=`). */
const TOKEN = `IQoJb3JpZ2luX2VjE${crypto.randomBytes(300).toString('base64')}ab+cd/ef==`;
const ENCODED = encodeURIComponent(TOKEN);
const MASK = (s: string) => '*'.repeat(s.length);

/** What a raw upstream does with each request (its head, as far as it has arrived). */
type RawAnswer = (socket: net.Socket, request: string) => void;

let answer: RawAnswer;
/** Requests the raw upstream has received. */
let requests: string[];
let upstream: net.Server;
let upstreamPort: number;
let uncaught: unknown[];
const onUncaught = (error: unknown) => uncaught.push(error);

beforeAll(async () => {
  upstream = net.createServer(socket => {
    socket.on('error', () => {});
    socket.once('data', data => {
      requests.push(data.toString('latin1'));
      answer(socket, data.toString('latin1'));
    });
  });
  await new Promise<void>(r => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});

afterAll(() => new Promise(r => upstream.close(r)));

beforeEach(() => {
  requests = [];
  uncaught = [];
  process.on('uncaughtException', onUncaught);
});

afterEach(() => {
  process.off('uncaughtException', onUncaught);
  if (uncaught.length) throw new Error(`uncaught during the test: ${uncaught.join('; ')}`);
});

/** The raw upstream writes `text` (latin1) and closes. */
const writes = (text: string | Buffer): RawAnswer => socket => socket.end(Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1'));

interface Outcome {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** What forward() rejected with, if it did. */
  error?: Error;
  ms: number;
}

/**
 * Calls forward() from a plain Node server for one request of a client, and answers a
 * rejection as the router does (its status, its message).
 */
async function through(
  signed: Partial<SignedRequest> = {},
  options: ForwardOptions = {},
  timeout = 5000,
): Promise<Outcome> {
  const agent = createAgent('http:');
  let error: Error | undefined;
  const front = http.createServer((_req, res) => {
    const request: SignedRequest = {
      method: 'GET',
      path: '/x',
      headers: { host: `127.0.0.1:${upstreamPort}`, 'x-amz-security-token': TOKEN },
      ...signed,
    };
    forward(
      {
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: upstreamPort,
        agent,
        timeout,
        allowedResponseHeaders: new Set(['x-echo']),
      },
      request,
      res,
      options,
    ).catch(e => {
      error = e;
      res.writeHead(statusOf(e), { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { name: e.name, message: e.message } }));
    });
  });
  await new Promise<void>(r => front.listen(0, '127.0.0.1', r));
  const started = Date.now();
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port: (front.address() as AddressInfo).port, path: '/', agent: false },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', c => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), error, ms: Date.now() - started }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
    });
  } finally {
    agent.destroy();
    front.closeAllConnections();
    await new Promise(r => front.close(r));
  }
}

describe('an answer that is no valid final HTTP answer is a 502, at once, with nothing thrown', () => {
  it.each([
    ['101 Switching Protocols with Upgrade (an upgrade nobody asked for)', 'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\nrest', 'The upstream switched protocols (101), which was not asked for'],
    ['101 without Upgrade', 'HTTP/1.1 101 Switching Protocols\r\n\r\n', "The upstream's answer could not be passed on (status 101)"],
    ['status 099', 'HTTP/1.1 099 Odd\r\ncontent-length: 2\r\n\r\nhi', "The upstream's answer could not be passed on (status 99)"],
    ['status 000', 'HTTP/1.1 000 Odd\r\ncontent-length: 2\r\n\r\nhi', "The upstream's answer could not be passed on (status 0)"],
    ['status 600', 'HTTP/1.1 600 Odd\r\ncontent-length: 2\r\n\r\nhi', "The upstream's answer could not be passed on (status 600)"],
    ['status 999', 'HTTP/1.1 999 Odd\r\ncontent-length: 2\r\n\r\nhi', "The upstream's answer could not be passed on (status 999)"],
  ])('%s', async (_case, text, message) => {
    answer = writes(text);
    const seen = await through({}, {}, 10_000);
    expect(seen.status).toBe(502);
    expect(JSON.parse(seen.body.toString())).toEqual({ error: { name: 'BadGatewayError', message } });
    // Long before the route's timeout (10 s): nothing waits for an answer that will not come.
    expect(seen.ms).toBeLessThan(5000);
  });

  it('101 to a streamed upload waiting for the go-ahead', async () => {
    answer = writes('HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\nconnection: upgrade\r\n\r\n');
    const body = new Readable({ read() {} });
    const seen = await through({ method: 'PUT', body }, {}, 10_000);
    expect(seen.status).toBe(502);
    expect(seen.error?.name).toBe('BadGatewayError');
  });

  it('interim answers (102, 103) are not the answer: the final one is passed on', async () => {
    answer = writes('HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    const seen = await through();
    expect(seen.status).toBe(200);
    expect(seen.body.toString()).toBe('ok');
  });

  it('interim answers and then nothing: 504 after the timeout, not a hang', async () => {
    answer = socket => socket.write('HTTP/1.1 102 Processing\r\n\r\n');
    const seen = await through({}, {}, 300);
    expect(seen.status).toBe(504);
  });

  it('a header value with a control character', async () => {
    answer = writes('HTTP/1.1 200 OK\r\nx-echo: a\x01b\r\ncontent-length: 2\r\n\r\nhi');
    const seen = await through();
    expect(seen.status).toBe(502);
    expect(seen.error?.name).toBe('BadGatewayError');
  });
});

/** An S3 error that echoes the request's canonical request, with the token, as S3's does. */
const signatureDoesNotMatch = (token: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><CanonicalRequest>GET\n/x\n\nhost:127.0.0.1\nx-amz-security-token:${token}\n\nhost;x-amz-security-token\nUNSIGNED-PAYLOAD</CanonicalRequest><StringToSign>x</StringToSign></Error>`;

const http403 = (body: string, extra = '') =>
  `HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('the session token never reaches the caller, whatever the upstream echoes', () => {
  it('in response headers, allowlisted or x-amz-*, as sent and URL-encoded', async () => {
    answer = writes(
      `HTTP/1.1 200 OK\r\nx-echo: token=${TOKEN}\r\nx-amz-meta-echo: ${ENCODED}\r\netag: "${TOKEN}"\r\ncontent-length: 2\r\n\r\nok`,
    );
    const seen = await through();
    expect(seen.status).toBe(200);
    expect(seen.headers['x-echo']).toBe(`token=${MASK(TOKEN)}`);
    expect(seen.headers['x-amz-meta-echo']).toBe(MASK(ENCODED));
    expect(seen.headers.etag).toBe(`"${MASK(TOKEN)}"`);
    expect(JSON.stringify(seen.headers)).not.toContain(TOKEN.slice(0, 40));
  });

  it.each([
    ['passed on at once', {}],
    ['read first, to see whether the credentials were rejected', { resignAfterRejectedCredentials: async () => undefined }],
  ])("in S3's SignatureDoesNotMatch error (%s)", async (_case, options: ForwardOptions) => {
    const body = signatureDoesNotMatch(TOKEN);
    answer = writes(http403(body));
    const seen = await through({}, options);
    expect(seen.status).toBe(403);
    expect(seen.body.toString()).toBe(signatureDoesNotMatch(MASK(TOKEN)));
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it('in a large body sent a byte per chunk, across every boundary, as sent and URL-encoded', async () => {
    const filler = (n: number) => Buffer.alloc(n, 'x');
    const parts = [
      TOKEN, filler(65_536 - 20), TOKEN, filler(1000), ENCODED, filler(70_000),
      TOKEN.slice(0, 30), filler(10), // a start of the token that does not go on
      TOKEN,
    ];
    const expected = parts.map(p => (p === TOKEN || p === ENCODED ? MASK(p) : p));
    const body = Buffer.concat(parts.map(p => Buffer.from(p)));
    const framed = Buffer.concat([...body].map(b => Buffer.from([0x31, 0x0d, 0x0a, b, 0x0d, 0x0a])));
    answer = socket => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n');
      socket.end(Buffer.concat([framed, Buffer.from('0\r\n\r\n')]));
    };
    const seen = await through();
    expect(seen.status).toBe(200);
    expect(seen.body.length).toBe(body.length);
    expect(seen.body.equals(Buffer.concat(expected.map(p => Buffer.from(p))))).toBe(true);
    expect(seen.body.includes(TOKEN)).toBe(false);
  });

  it('a request without a session token (static credentials) gets its answer unchanged', async () => {
    const body = signatureDoesNotMatch(TOKEN);
    answer = writes(http403(body));
    const seen = await through({ headers: { host: `127.0.0.1:${upstreamPort}` } });
    expect(seen.body.toString()).toBe(body);
  });
});

describe('after rejected credentials', () => {
  const expired = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code><Message>expired</Message></Error>';

  it('with fresh credentials to try: sends the request again, with them', async () => {
    answer = (socket, request) =>
      socket.end(request.includes('fresh-token') ? 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok' : http403(expired, 'connection: close\r\n'));
    const seen = await through({}, {
      resignAfterRejectedCredentials: async () => ({
        method: 'GET',
        path: '/x',
        headers: { host: `127.0.0.1:${upstreamPort}`, 'x-amz-security-token': 'fresh-token' },
      }),
    });
    expect(seen.status).toBe(200);
    expect(requests).toHaveLength(2);
  });

  it('with none to try (a refresh was forced moments ago): passes the upstream\'s answer on, without sending again', async () => {
    answer = writes(http403(expired, 'x-amz-request-id: r1\r\n'));
    let asked = 0;
    const seen = await through({}, {
      resignAfterRejectedCredentials: async () => {
        asked += 1;
        return undefined;
      },
    });
    expect(asked).toBe(1);
    expect(seen.status).toBe(403);
    expect(seen.headers['x-amz-request-id']).toBe('r1');
    expect(seen.body.toString()).toBe(expired);
    expect(requests).toHaveLength(1);
  });
});

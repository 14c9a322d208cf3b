/*
 * The whole request path, through a real Backstage test backend, against a real upstream
 * that verifies every signature with aws4 (not the plugin's signer) and records what arrived.
 */
import http from 'node:http';
import crypto from 'node:crypto';
import { echoHandler, startVerifyingUpstream, VerifyingUpstream } from '../../localAws';
import {
  RunningProxy,
  SERVICE,
  startProxy,
  TEST_CREDENTIALS,
  USER,
} from '../__testUtils__/startProxy';
import { rawHttp } from '../__testUtils__/rawHttp';

const P = '/api/proxy-sigv4';

let upstream: VerifyingUpstream;
let proxy: RunningProxy;
let proxyPort: number;

beforeAll(async () => {
  upstream = await startVerifyingUpstream({
    [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS,
  });
  const api = { service: 'execute-api', region: 'eu-west-1' };
  proxy = await startProxy({
    '/api': { target: `${upstream.url}/prod`, ...api },
    '/api/nested': { target: `${upstream.url}/nested`, ...api },
    '/bare': { target: upstream.url, ...api },
    '/s3': { target: `${upstream.url}/bucket`, service: 's3', region: 'us-east-1' },
    '/bedrock': { target: upstream.url, service: 'bedrock', region: 'us-east-1' },
    '/s3stream': {
      target: `${upstream.url}/bucket`,
      service: 's3',
      region: 'us-east-1',
      unsignedPayload: true,
    },
    '/open': {
      target: `${upstream.url}/open`,
      ...api,
      credentials: 'dangerously-allow-unauthenticated',
    },
    '/open/secret': { target: `${upstream.url}/secret`, ...api },
    '/limited': {
      target: `${upstream.url}/limited`,
      ...api,
      allowedMethods: ['GET', 'HEAD', 'PUT'],
      allowedHeaders: ['x-custom-header'],
      allowedResponseHeaders: ['x-custom-reply'],
      maxBodySize: 16,
      timeout: 300,
    },
  });
  proxyPort = Number(new URL(proxy.baseUrl).port);
});

afterAll(async () => {
  await proxy.stop();
  await upstream.close();
});

beforeEach(() => {
  upstream.received.length = 0;
  upstream.handler = echoHandler;
});

function lastReceived() {
  expect(upstream.received).toHaveLength(1);
  const received = upstream.received[0];
  expect(received.signatureError).toBeUndefined();
  return received;
}

describe('paths', () => {
  it.each([
    ['/api', '/prod'],
    ['/api/', '/prod/'],
    ['/api/a/b', '/prod/a/b'],
    ['/api/a/b/', '/prod/a/b/'],
    ['/api/a%20b', '/prod/a%20b'],
    ["/api/it's(1)!*", '/prod/it%27s%281%29%21%2A'],
    ['/api/user@host:8080', '/prod/user%40host%3A8080'],
    ['/api/a+b', '/prod/a%2Bb'],
    ['/api/a%2Fb/c', '/prod/a%2Fb/c'],
    ['/api/%7Euser/%41', '/prod/~user/A'],
    ['/api/caf%C3%A9/%E2%82%AC', '/prod/caf%C3%A9/%E2%82%AC'],
    ['/api/a//b', '/prod/a/b'],
    ['/api/nested', '/nested'],
    ['/api/nested/x', '/nested/x'],
    ['/api/nestedx', '/prod/nestedx'],
    ['/bare', '/'],
    ['/bare/x', '/x'],
    ['/s3/key%20with%20space', '/bucket/key%20with%20space'],
    ["/s3/it's(1)!*:@+,;=$&", '/bucket/it%27s%281%29%21%2A%3A%40%2B%2C%3B%3D%24%26'],
    ['/s3/dir//double', '/bucket/dir//double'],
    ['/s3/a%2Fb', '/bucket/a/b'],
    ['/s3/%E6%97%A5%E6%9C%AC/%F0%9F%98%80', '/bucket/%E6%97%A5%E6%9C%AC/%F0%9F%98%80'],
    ['/s3/trailing/', '/bucket/trailing/'],
  ])('%s goes to %s, signed as sent', async (path, expected) => {
    const res = await rawHttp(proxyPort, `GET ${P}${path} HTTP/1.1`, { authorization: USER });
    expect(res.status).toBe(200);
    expect(lastReceived().url).toBe(expected);
  });

  it('matches routes only at segment boundaries', async () => {
    const res = await rawHttp(proxyPort, `GET ${P}/apix HTTP/1.1`, { authorization: USER });
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body).error.name).toBe('NotFoundError');
    expect(upstream.received).toHaveLength(0);
  });

  it.each([
    '/api/..',
    '/api/../s3/x',
    '/api/a/../../etc',
    '/api/./x',
    '/api/%2e%2e/x',
    '/api/%2E%2E',
    '/api/.%2e/x',
    '/api/%252e%252e/x',
    '/api/..%2fx',
    '/api/%2f..',
    '/api/..%5cx',
    '/api/..\\x',
    '/api/%C0%AE%C0%AE/x',
    '/api/a%00b',
    '/api/%zz',
    '/s3/../other-bucket/x',
    '/s3/a/%2e%2e/b',
  ])('refuses %s with 400 before anything is sent', async path => {
    const res = await rawHttp(proxyPort, `GET ${P}${path} HTTP/1.1`, { authorization: USER });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({
      error: { name: 'InputError' },
      response: { statusCode: 400 },
    });
    expect(upstream.received).toHaveLength(0);
  });

  it.each([
    ['an absolute-form request target', `GET http://evil.example${P}/api/x HTTP/1.1`, {}, '/prod/x'],
    ['a foreign Host header', `GET ${P}/api/x HTTP/1.1`, { host: 'evil.example' }, '/prod/x'],
    ['a //host path', `GET ${P}/api//evil.example/x HTTP/1.1`, {}, '/prod/evil.example/x'],
    ['an @host path', `GET ${P}/api/@evil.example HTTP/1.1`, {}, '/prod/%40evil.example'],
    ['a \\host path', `GET ${P}/api/\\evil.example HTTP/1.1`, {}, '/prod/%5Cevil.example'],
    ['an X-Forwarded-Host header', `GET ${P}/api/x HTTP/1.1`, { 'x-forwarded-host': 'evil.example' }, '/prod/x'],
  ])('cannot change the upstream host with %s', async (_what, line, headers, expected) => {
    const res = await rawHttp(proxyPort, line, { authorization: USER, ...headers });
    expect(res.status).toBe(200);
    const received = lastReceived();
    expect(received.url).toBe(expected);
    expect(received.headers.host).toBe(`127.0.0.1:${upstream.port}`);
  });
});

describe('query strings', () => {
  it.each([
    ['a=1&b=2', 'a=1&b=2'],
    ['b=2&a=1', 'a=1&b=2'],
    ['q=a+b', 'q=a%20b'],
    ['q=a%2Bb', 'q=a%2Bb'],
    ['q=a%20b&q=a', 'q=a&q=a%20b'],
    ['tag=2&tag=1&tag=10', 'tag=1&tag=10&tag=2'],
    ['flag', 'flag='],
    ['empty=&x=1', 'empty=&x=1'],
    ["q=it's(1)!*~", 'q=it%27s%281%29%21%2A~'],
    ['q=caf%C3%A9&%E2%82%AC=1', '%E2%82%AC=1&q=caf%C3%A9'],
    ['filter={"a":[1,2]}', 'filter=%7B%22a%22%3A%5B1%2C2%5D%7D'],
    ['B=1&a=2&_=3', 'B=1&_=3&a=2'],
    ['x=a=b&y=c?d', 'x=a%3Db&y=c%3Fd'],
  ])('?%s goes out as ?%s, signed as sent', async (query, expected) => {
    const res = await rawHttp(proxyPort, `GET ${P}/api/search?${query} HTTP/1.1`, { authorization: USER });
    expect(res.status).toBe(200);
    expect(lastReceived().url).toBe(`/prod/search?${expected}`);
  });

  it('signs S3 list queries with slashes and delimiters', async () => {
    const res = await rawHttp(
      proxyPort,
      `GET ${P}/s3?list-type=2&prefix=photos/2024/&delimiter=/&encoding-type=url HTTP/1.1`,
      { authorization: USER },
    );
    expect(res.status).toBe(200);
    expect(lastReceived().url).toBe(
      '/bucket?delimiter=%2F&encoding-type=url&list-type=2&prefix=photos%2F2024%2F',
    );
  });

  it('refuses caller-supplied SigV4 query authentication', async () => {
    const res = await rawHttp(proxyPort, `GET ${P}/api/x?X-Amz-Signature=abc HTTP/1.1`, { authorization: USER });
    expect(res.status).toBe(400);
    expect(upstream.received).toHaveLength(0);
  });
});

/** Sends a request with Node's client, optionally chunked, and returns status and body. */
function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer | Buffer[],
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const framed =
    Buffer.isBuffer(body) && !('transfer-encoding' in headers)
      ? { 'content-length': String(body.length), ...headers } // Node frames no DELETE body by itself
      : headers;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: proxyPort, method, path: `${P}${path}`, headers: framed },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (Array.isArray(body)) {
      for (const part of body) req.write(part);
      req.end();
    } else {
      req.end(body);
    }
  });
}

describe('bodies', () => {
  const binary = crypto.randomBytes(70_000);
  // Arrives in many reads: hashed piece by piece, sent as it came.
  const large = crypto.randomBytes(2 * 1024 * 1024 + 3);
  it.each([
    ['POST', '/api/x', 'application/json', Buffer.from('{\n  "pretty":   true,\n  "n": 1.50\n}\n')],
    ['PUT', '/api/x', 'text/plain; charset=utf-8', Buffer.from('héllo wörld\r\n')],
    ['POST', '/api/x', 'application/x-www-form-urlencoded', Buffer.from('a=1&b=a+b&c=%2B')],
    ['POST', '/api/x', 'application/octet-stream', binary],
    ['POST', '/api/large', 'application/octet-stream', large],
    ['POST', '/api/', 'application/x-amz-json-1.0', Buffer.from('{"TableName":"t"}')],
    ['PATCH', '/api/x', 'application/merge-patch+json', Buffer.from('{"a":null}')],
    ['DELETE', '/api/x', 'application/json', Buffer.from('{"force":true}')],
    ['PUT', '/s3/object.bin', 'application/octet-stream', binary],
    ['PUT', '/s3/large.bin', 'application/octet-stream', large],
    ['POST', '/s3/?delete', 'application/xml', Buffer.from('<Delete><Object><Key>a</Key></Object></Delete>')],
  ])('%s %s (%s) arrives byte-identical and signed', async (method, path, type, body) => {
    const res = await send(method, path, { authorization: USER, 'content-type': type }, body);
    expect({ status: res.status, body: res.status === 200 ? '' : res.body.toString() }).toEqual({ status: 200, body: '' });
    const received = lastReceived();
    expect(received.method).toBe(method);
    expect(received.body.equals(body)).toBe(true);
    // Within maxBodySize, buffered and hashed whole (S3 PUTs above it stream chunk-signed:
    // streamedUpload.test.ts).
    expect(received.chunked).toBeUndefined();
    expect(received.headers['content-length']).toBe(String(body.length));
    expect(received.headers['content-type']).toBe(type);
  });

  it('buffers a chunked upload and sends it with a Content-Length', async () => {
    const parts = [Buffer.from('first,'), crypto.randomBytes(5000), Buffer.from(',last')];
    const res = await send('POST', '/api/chunked', { authorization: USER, 'transfer-encoding': 'chunked' }, parts);
    expect(res.status).toBe(200);
    const received = lastReceived();
    expect(received.body.equals(Buffer.concat(parts))).toBe(true);
    expect(received.headers['content-length']).toBe('5011');
    expect(received.headers['transfer-encoding']).toBeUndefined();
  });

  it('sends an empty PUT with Content-Length 0 and the empty payload hash', async () => {
    const res = await send('PUT', '/s3/empty', { authorization: USER }, Buffer.alloc(0));
    expect(res.status).toBe(200);
    const received = lastReceived();
    expect(received.headers['content-length']).toBe('0');
    expect(received.headers['x-amz-content-sha256']).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('streams an S3 upload with UNSIGNED-PAYLOAD when the route says so', async () => {
    const body = crypto.randomBytes(200_000);
    const res = await send('PUT', '/s3stream/big.bin', { authorization: USER, 'content-length': String(body.length) }, body);
    expect(res.status).toBe(200);
    const received = lastReceived();
    expect(received.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(received.body.equals(body)).toBe(true);
    expect(received.headers['content-length']).toBe(String(body.length));
  });

  it('answers 413 for a declared body over maxBodySize before the upstream sees anything', async () => {
    const res = await send('PUT', '/limited/x', { authorization: USER, 'content-type': 'text/plain' }, Buffer.alloc(17, 'a'));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body.toString())).toMatchObject({
      error: { name: 'PayloadTooLargeError', message: expect.stringContaining('maxBodySize of 16 bytes') },
      response: { statusCode: 413 },
    });
    expect(upstream.received).toHaveLength(0);
  });

  it('answers 413 for a chunked body once it passes maxBodySize', async () => {
    const res = await send('PUT', '/limited/x', { authorization: USER, 'transfer-encoding': 'chunked' }, [
      Buffer.alloc(10, 'a'),
      Buffer.alloc(10, 'b'),
    ]);
    expect(res.status).toBe(413);
    expect(upstream.received).toHaveLength(0);
  });

  it('accepts a body of exactly maxBodySize', async () => {
    const res = await send('PUT', '/limited/x', { authorization: USER }, Buffer.alloc(16, 'a'));
    expect(res.status).toBe(200);
    expect(lastReceived().body.length).toBe(16);
  });
});

describe('request headers', () => {
  it('forwards the allowlist and client-chosen x-amz-* headers, and nothing else', async () => {
    const kept = {
      'x-amz-target': 'DynamoDB_20120810.GetItem',
      'x-amz-meta-owner': 'team-a',
      'x-amzn-bedrock-trace': 'ENABLED',
      range: 'bytes=0-99',
      'if-none-match': '"abc"',
      'if-modified-since': 'Wed, 21 Oct 2015 07:28:00 GMT',
      accept: 'application/json',
      'user-agent': 'test-client/1.0',
      'x-custom-header': 'kept',
    };
    const dropped = {
      cookie: 'backstage-session=secret',
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-proto': 'https',
      forwarded: 'for=10.0.0.1',
      'proxy-authorization': 'Basic eHg6eXk=',
      'x-amz-security-token': 'stolen',
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      'x-other-header': 'dropped',
      te: 'trailers',
      'x-amz-copy-source': '/other-bucket/secret.txt',
      'x-amz-copy-source-range': 'bytes=0-9',
      'x-amz-grant-read': 'uri="http://acs.amazonaws.com/groups/global/AllUsers"',
      'x-amz-website-redirect-location': 'https://evil.example/',
    };
    const res = await rawHttp(proxyPort, `GET ${P}/limited/h HTTP/1.1`, {
      authorization: USER,
      'x-amz-date': '20000101T000000Z',
      ...dropped,
      ...kept,
    });
    expect(res.status).toBe(200);
    const { headers, signedHeaders } = lastReceived();
    expect(headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTESTPROXY\//);
    expect(headers['x-amz-date']).not.toBe('20000101T000000Z');
    for (const name of Object.keys(dropped)) {
      expect([name, headers[name]]).toEqual([name, undefined]);
    }
    expect(headers).toMatchObject(kept);
    expect(signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-target', 'x-amz-meta-owner', 'range', 'x-custom-header']));
    expect(signedHeaders).not.toContain('user-agent');
  });

  it('refuses a header value with non-ASCII bytes, which could not be signed as sent', async () => {
    const res = await rawHttp(proxyPort, `PUT ${P}/s3/k HTTP/1.1`, {
      authorization: USER,
      'x-amz-meta-name': Buffer.from('café', 'utf8').toString('latin1'),
    }, 'x');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.message).toMatch(/x-amz-meta-name has non-ASCII/);
    expect(upstream.received).toHaveLength(0);
  });

  it('does not forward a route-specific header on other routes', async () => {
    await rawHttp(proxyPort, `GET ${P}/api/h HTTP/1.1`, { authorization: USER, 'x-custom-header': 'no' });
    expect(lastReceived().headers['x-custom-header']).toBeUndefined();
  });

  it('always sends x-amz-content-sha256 to S3 and never to other services', async () => {
    await rawHttp(proxyPort, `GET ${P}/s3/k HTTP/1.1`, { authorization: USER });
    expect(lastReceived().headers['x-amz-content-sha256']).toMatch(/^[0-9a-f]{64}$/);
    upstream.received.length = 0;
    await rawHttp(proxyPort, `GET ${P}/api/k HTTP/1.1`, { authorization: USER });
    expect(lastReceived().headers['x-amz-content-sha256']).toBeUndefined();
  });
});

describe('responses', () => {
  it('passes back allowlisted headers only', async () => {
    upstream.handler = (_req, res) => {
      res.setHeader('set-cookie', ['session=upstream']);
      res.setHeader('etag', '"v1"');
      res.setHeader('last-modified', 'Wed, 21 Oct 2015 07:28:00 GMT');
      res.setHeader('x-amz-request-id', 'REQ1');
      res.setHeader('x-amzn-requestid', 'REQ2');
      res.setHeader('x-amz-meta-owner', 'team-a');
      res.setHeader('x-custom-reply', 'yes');
      res.setHeader('x-internal-secret', 'no');
      res.setHeader('content-range', 'bytes 0-3/10');
      res.setHeader('accept-ranges', 'bytes');
      res.setHeader('cache-control', 'max-age=60');
      res.setHeader('content-type', 'text/plain');
      res.setHeader('content-length', '4');
      res.writeHead(206);
      res.end('abcd');
    };
    const res = await send('GET', '/limited/r', { authorization: USER, range: 'bytes=0-3' });
    expect(res.status).toBe(206);
    expect(res.body.toString()).toBe('abcd');
    expect(res.headers).toMatchObject({
      etag: '"v1"',
      'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT',
      'x-amz-request-id': 'REQ1',
      'x-amzn-requestid': 'REQ2',
      'x-amz-meta-owner': 'team-a',
      'x-custom-reply': 'yes',
      'content-range': 'bytes 0-3/10',
      'accept-ranges': 'bytes',
      'cache-control': 'max-age=60, private', // an answer on credentials: no shared cache's to keep
      'content-type': 'text/plain',
      'content-length': '4',
    });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['x-internal-secret']).toBeUndefined();
  });

  it('does not pass back route-specific response headers on other routes', async () => {
    upstream.handler = (_req, res) => {
      res.setHeader('x-custom-reply', 'yes');
      res.end('ok');
    };
    const res = await send('GET', '/api/r', { authorization: USER });
    expect(res.headers['x-custom-reply']).toBeUndefined();
  });

  it('passes redirects back without following them', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(307, { location: 'https://elsewhere.example/x' });
      res.end();
    };
    const res = await send('GET', '/api/moved', { authorization: USER });
    expect(res.status).toBe(307);
    expect(res.headers.location).toBe('https://elsewhere.example/x');
    expect(upstream.received).toHaveLength(1);
  });

  it.each([403, 404, 500, 503])('passes an upstream %i through with its body', async status => {
    const xml = `<?xml version="1.0"?><Error><Code>C${status}</Code><Message>from AWS</Message></Error>`;
    upstream.handler = (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': 'R' });
      res.end(xml);
    };
    const res = await send('GET', '/s3/missing', { authorization: USER });
    expect(res.status).toBe(status);
    expect(res.body.toString()).toBe(xml);
    expect(res.headers['content-type']).toBe('application/xml');
  });

  it('answers HEAD with the upstream headers and no body', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-length': '1234', etag: '"e"' });
      res.end();
    };
    const res = await send('HEAD', '/s3/obj', { authorization: USER });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe('1234');
    expect(res.body.length).toBe(0);
  });

  it('streams: the first bytes arrive before the upstream has finished', async () => {
    let finish!: () => void;
    const finished = new Promise<void>(r => (finish = r));
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write('first-chunk');
      finished.then(() => res.end('last-chunk'));
    };
    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: proxyPort, path: `${P}/api/stream`, headers: { authorization: USER } }, res => {
          let text = '';
          res.on('data', chunk => {
            text += chunk;
            if (text === 'first-chunk') finish(); // only now may the upstream end
          });
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    expect(body).toBe('first-chunklast-chunk');
  });

  it('reuses one upstream connection for sequential requests', async () => {
    const before = upstream.connections.length;
    for (let i = 0; i < 10; i++) {
      const res = await send('GET', `/api/seq/${i}`, { authorization: USER });
      expect(res.status).toBe(200);
    }
    expect(upstream.connections.length - before).toBeLessThanOrEqual(1);
    expect(new Set(upstream.received.map(r => r.remotePort)).size).toBe(1);
  });
});

describe('a Bedrock runtime request (docs/examples.md worked example)', () => {
  // The model id contains ':'. Callers may send it raw or as %3A; either way it goes out as
  // %3A, and the upstream checks the signature (aws4 encodes that path again, as Bedrock does).
  it.each([
    'anthropic.claude-3-haiku-20240307-v1:0',
    'anthropic.claude-3-haiku-20240307-v1%3A0',
  ])('POST /model/%s/invoke-with-response-stream: sent as %%3A, signed, bedrock headers forwarded, events streamed', async modelId => {
    let finish!: () => void;
    const finished = new Promise<void>(r => (finish = r));
    upstream.handler = (_req, res, received) => {
      res.writeHead(received.signatureError ? 403 : 200, {
        'content-type': 'application/vnd.amazon.eventstream',
        'x-amzn-requestid': 'req-1',
      });
      res.write('event-1');
      finished.then(() => res.end('event-2'));
    };
    const body = Buffer.from('{\n  "messages": [{"role": "user", "content": [{"text": "Hi"}]}]\n}');
    const got = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: proxyPort,
          method: 'POST',
          path: `${P}/bedrock/model/${modelId}/invoke-with-response-stream`,
          headers: {
            authorization: USER,
            'content-type': 'application/json',
            'content-length': String(body.length),
            accept: 'application/vnd.amazon.eventstream',
            'x-amzn-bedrock-accept': 'application/json',
          },
        },
        res => {
          let text = '';
          res.on('data', chunk => {
            text += chunk;
            if (text === 'event-1') finish(); // the first event arrived before the upstream ended
          });
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    expect(got.status).toBe(200);
    expect(got.text).toBe('event-1event-2');
    expect(got.headers['content-type']).toBe('application/vnd.amazon.eventstream');
    expect(got.headers['x-amzn-requestid']).toBe('req-1');
    const received = lastReceived();
    expect(received.url).toBe('/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream');
    expect(received.service).toBe('bedrock');
    expect(received.body.equals(body)).toBe(true);
    expect(received.headers).toMatchObject({
      accept: 'application/vnd.amazon.eventstream',
      'x-amzn-bedrock-accept': 'application/json',
      'content-type': 'application/json',
    });
    expect(received.signedHeaders).toEqual(expect.arrayContaining(['x-amzn-bedrock-accept', 'content-type']));
  });
});

describe('authentication and errors', () => {
  it('answers 401 without Backstage credentials, and forwards nothing', async () => {
    const res = await rawHttp(proxyPort, `GET ${P}/api/x HTTP/1.1`);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({ error: { name: 'AuthenticationError' } });
    expect(upstream.received).toHaveLength(0);
  });

  it('answers 401 for an invalid token', async () => {
    const res = await rawHttp(proxyPort, `GET ${P}/api/x HTTP/1.1`, { authorization: 'Bearer not-a-token' });
    expect(res.status).toBe(401);
    expect(upstream.received).toHaveLength(0);
  });

  it('accepts user and service tokens', async () => {
    expect((await rawHttp(proxyPort, `GET ${P}/api/u HTTP/1.1`, { authorization: USER })).status).toBe(200);
    expect((await rawHttp(proxyPort, `GET ${P}/api/s HTTP/1.1`, { authorization: SERVICE })).status).toBe(200);
    expect(upstream.received).toHaveLength(2);
  });

  it('serves a route that opted out of credentials to anonymous callers', async () => {
    const res = await rawHttp(proxyPort, `GET ${P}/open/x HTTP/1.1`);
    expect(res.status).toBe(200);
    expect(lastReceived().url).toBe('/open/x');
  });

  it('still requires credentials on a route nested under an open one', async () => {
    const res = await rawHttp(proxyPort, `GET ${P}/open/secret/x HTTP/1.1`);
    expect(res.status).toBe(401);
    expect(upstream.received).toHaveLength(0);
    const ok = await rawHttp(proxyPort, `GET ${P}/open/secret/x HTTP/1.1`, { authorization: USER });
    expect(ok.status).toBe(200);
    expect(lastReceived().url).toBe('/secret/x');
  });

  it.each([
    `${P}/open/%73ecret/x`,
    `${P}/open//secret/x`,
    `${P}/open/./secret/x`,
    `${P}//open/secret/x`,
  ])('matches %s to the nested route, which requires credentials', async path => {
    const res = await rawHttp(proxyPort, `GET ${path} HTTP/1.1`);
    expect([401, 400]).toContain(res.status);
    expect(upstream.received).toHaveLength(0);
  });

  it('routes an encoded route name to its route', async () => {
    const res = await rawHttp(proxyPort, `GET ${P}/open/%73ecret/x HTTP/1.1`, { authorization: USER });
    expect(res.status).toBe(200);
    expect(lastReceived().url).toBe('/secret/x');
  });

  it('refuses an encoded slash that joins a route to the rest', async () => {
    const res = await rawHttp(proxyPort, `GET ${P}/open/secret%2Fx HTTP/1.1`, { authorization: USER });
    expect(res.status).toBe(400);
    expect(upstream.received).toHaveLength(0);
  });

  it('answers 405 with Allow for a method the route does not allow', async () => {
    const res = await rawHttp(proxyPort, `POST ${P}/limited/x HTTP/1.1`, { authorization: USER }, '{}');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, PUT');
    expect(JSON.parse(res.body)).toMatchObject({ error: { name: 'MethodNotAllowedError' }, response: { statusCode: 405 } });
    expect(upstream.received).toHaveLength(0);
  });

  it.each(['PROPFIND', 'TRACE', 'MKCOL'])('answers 405 for %s, which no route allows', async method => {
    const res = await rawHttp(proxyPort, `${method} ${P}/api/x HTTP/1.1`, { authorization: USER });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(upstream.received).toHaveLength(0);
  });
});

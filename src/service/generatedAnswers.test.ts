/*
 * Generated upstream answers (issue 13, "beyond the sample"): the upstream answers each
 * request with a generated status, Content-Type lines (lists whose last type wins, types
 * browsers render, S3's `response-content-type` override honoured or not), headers and
 * bodies that echo the request — its session token raw or encoded, its Authorization, its
 * canonical request, as S3's SignatureDoesNotMatch document does — written whole or a byte
 * at a time, with a Content-Length or chunked. Whatever it answers:
 * - the caller gets the upstream's status, never a hang;
 * - an answer a browser could render as HTML, SVG or XML (by the WHATWG rules, read
 *   independently in browserMime) carries a sandbox policy, and every answer nosniff;
 * - no secret of the route reaches the caller or a log line.
 * And an upstream whose status line is malformed (below 200 and not a valid interim
 * answer, 101 unasked, above 599) gets the caller a 502 within the route's timeout.
 */
/* eslint-disable jest/expect-expect -- fc.assert asserts every property */
import net from 'node:net';
import { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { AnswerShape, answerShape, contentType, Echo } from '../__testUtils__/arbitraries';
import { fcParameters } from '../__testUtils__/fcSettings';
import {
  exchange,
  Exchange,
  GeneratedRig,
  logText,
  MOUNT,
  RouteKey,
  startGeneratedRig,
  USER,
} from '../__testUtils__/generatedRig';
import {
  activeContentProblems,
  answerText,
  refusalProblems,
  secretProblems,
} from '../__testUtils__/invariants';
import { ReceivedRequest, UpstreamHandler } from '../../localAws';

// The long run (e2e/generatedAttacks.ts) runs thousands of cases per property.
jest.setTimeout(process.env.FC_RUNS ? 3_600_000 : 120_000);

let rig: GeneratedRig;
let raw: net.Server;
/** What the raw upstream answers next: the bytes after the request's head. */
let rawAnswer = '';

const RAW_TIMEOUT = 2000;

beforeAll(async () => {
  raw = net.createServer(socket => {
    let head = '';
    socket.on('data', d => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) socket.write(rawAnswer);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>(r => raw.listen(0, '127.0.0.1', r));
  const rawPort = (raw.address() as AddressInfo).port;
  rig = await startGeneratedRig({
    extraRoutes: () => ({
      '/raw': { target: `http://127.0.0.1:${rawPort}/raw`, service: 'execute-api', region: 'eu-west-1', timeout: RAW_TIMEOUT },
    }),
  });
});

afterAll(async () => {
  await rig?.stop();
  await new Promise(r => raw?.close(r));
});

/** What an echo of kind `e` carries, for a request as it arrived. */
function echoed(e: Echo, received: ReceivedRequest, headerName?: string): string {
  const token = String(received.headers['x-amz-security-token'] ?? '');
  switch (e) {
    case 'token':
      return token;
    case 'token-encoded':
      return encodeURIComponent(token);
    case 'authorization':
      return String(received.headers.authorization);
    case 'canonical-request':
      return received.aws4?.canonicalRequest ?? JSON.stringify(received.headers);
    default:
      return (
        {
          'content-security-policy': 'sandbox allow-scripts allow-same-origin',
          'x-content-type-options': 'sniff',
          location: '/elsewhere',
        } as Record<string, string>
      )[headerName ?? ''] ?? 'constant';
  }
}

function bodyOf(body: AnswerShape['body'], received: ReceivedRequest): string {
  if (body.kind === 'none') return '';
  const e = echoed(body.echo, received);
  switch (body.template) {
    case 'html':
      return `<!doctype html><html><body><script>parent.postMessage('ran', '*')</script><p>${e}</p></body></html>`;
    case 'svg':
      return `<svg xmlns="http://www.w3.org/2000/svg"><script>parent.postMessage('ran', '*')</script><text>${e}</text></svg>`;
    case 'xml-error':
      return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><CanonicalRequest>${e}</CanonicalRequest></Error>`;
    case 'json-error':
      return JSON.stringify({ message: e, __type: 'UnrecognizedClientException' });
    default:
      return e;
  }
}

/** The upstream's answer for a shape: status, headers, body in pieces. */
function answering(shape: AnswerShape): UpstreamHandler {
  return (_req, res, received) => {
    let types = shape.contentTypes;
    const override = new URL(received.url, 'http://x').searchParams.get('response-content-type');
    if (shape.honourResponseContentType && override !== null) types = [override];
    const headers: [string, string][] = types.map(t => ['content-type', t]);
    for (const [name, e] of shape.headers) headers.push([name, echoed(e, received, name).replace(/[\r\n]+/g, ' ')]);
    const body = Buffer.from(bodyOf(shape.body, received));
    if (shape.framing === 'length') headers.push(['content-length', String(body.length)]);
    const flat: string[] = headers.flat();
    res.writeHead(shape.status, flat);
    for (let i = 0; i < body.length; i += shape.pieceSize) res.write(body.subarray(i, i + shape.pieceSize));
    res.end();
  };
}

const ANSWER_ROUTES: RouteKey[] = ['/api', '/s3', '/role', '/roles3', '/partner'];

const answerCase = fc.record({
  route: fc.constantFrom(...ANSWER_ROUTES),
  method: fc.constantFrom('GET', 'GET', 'HEAD', 'POST'),
  /** S3's override of the answer's type, asked for in the query. */
  responseContentType: fc.option(contentType, { nil: undefined }),
  answer: answerShape,
});
type AnswerCase = typeof answerCase extends fc.Arbitrary<infer T> ? T : never;

async function ask(c: AnswerCase): Promise<{ ex: Exchange; problems: string[]; bytes: Buffer }> {
  rig.reset();
  rig.main.handler = answering(c.answer);
  const query = c.responseContentType === undefined ? '' : `?response-content-type=${encodeURIComponent(c.responseContentType)}`;
  const lines = [
    `${c.method} ${MOUNT}${c.route}/object${query} HTTP/1.1`,
    `Host: ${rig.self}`,
    `Authorization: ${USER}`,
    'Connection: close',
  ];
  if (c.method === 'POST') lines.push('Content-Length: 2');
  const bytes = Buffer.from(`${lines.join('\r\n')}\r\n\r\n${c.method === 'POST' ? '{}' : ''}`, 'latin1');
  const ex = await exchange(rig.port, bytes);
  const problems: string[] = [];
  if (ex.hung) problems.push('no complete answer within 15 s');
  if (!ex.response) problems.push(`no answer: ${JSON.stringify(ex.raw.slice(0, 300))}`);
  else if (rig.main.received.length === 0) problems.push(...refusalProblems(ex, c.method));
  else if (ex.response.status !== c.answer.status) {
    problems.push(`the upstream's ${c.answer.status} reached the caller as ${ex.response.status}: ${ex.response.body.slice(0, 200)}`);
  }
  return { ex, problems, bytes };
}

function report(bytes: Buffer, ex: Exchange, problems: string[]) {
  if (problems.length) {
    throw new Error(`${problems.join('\n')}\nrequest:\n${bytes.toString('latin1')}\nanswer:\n${ex.raw.slice(0, 1500)}`);
  }
}

it('an answer a browser could render as HTML, SVG or XML is sandboxed, every answer is nosniff, and the status is relayed', async () => {
  await fc.assert(
    fc.asyncProperty(answerCase, async c => {
      const { ex, problems, bytes } = await ask(c);
      if (ex.response) problems.push(...activeContentProblems(ex.response, c.method, rig.main.received.length > 0));
      report(bytes, ex, problems);
    }),
    fcParameters(150),
  );
});

it('no secret of the route reaches the caller or a log line, whatever the upstream echoes', async () => {
  await fc.assert(
    fc.asyncProperty(answerCase, async c => {
      const { ex, problems, bytes } = await ask(c);
      const secrets = rig.secrets();
      if (ex.response) problems.push(...secretProblems('the answer', answerText(ex.response), secrets));
      for (const entry of rig.logs.entries) {
        problems.push(...secretProblems(`the ${entry.level} log line "${entry.message.slice(0, 80)}"`, logText(entry), secrets));
      }
      report(bytes, ex, problems);
    }),
    fcParameters(150),
  );
});

it('an upstream status line that is not a valid final answer gets the caller a 502 within the route timeout', async () => {
  const malformed = fc.oneof(
    fc.integer({ min: 0, max: 99 }),
    fc.constantFrom(101, 600, 999),
    fc.integer({ min: 600, max: 999 }),
  );
  await fc.assert(
    fc.asyncProperty(malformed, fc.constantFrom('GET', 'POST'), async (status, method) => {
      rig.reset();
      rawAnswer =
        status === 101
          ? 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
          : `HTTP/1.1 ${String(status).padStart(3, '0')} Odd\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok`;
      const body = method === 'POST' ? 'Content-Length: 2\r\n\r\n{}' : '\r\n';
      const bytes = Buffer.from(`${method} ${MOUNT}/raw/x HTTP/1.1\r\nHost: ${rig.self}\r\nAuthorization: ${USER}\r\nConnection: close\r\n${body}`, 'latin1');
      const ex = await exchange(rig.port, bytes, RAW_TIMEOUT + 5000);
      const problems: string[] = [];
      if (ex.hung || !ex.response) problems.push(`no answer within the route's timeout (${RAW_TIMEOUT} ms) and 5 s more`);
      else if (ex.response.status !== 502) problems.push(`answered ${ex.response.status}, not 502`);
      report(bytes, ex, problems);
    }),
    { ...fcParameters(12), endOnFailure: true },
  );
});

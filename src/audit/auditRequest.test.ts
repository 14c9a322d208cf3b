/*
 * Every request to a route is recorded by Backstage's real auditor (which writes through
 * the plugin's logger, captured here): who, route, method, path, status and bytes, with no
 * secrets and no bodies.
 */
import http from 'node:http';
import net from 'node:net';
import { mockCredentials } from '@backstage/backend-test-utils';
import { echoHandler, startVerifyingUpstream, VerifyingUpstream } from '../../localAws';
import {
  RunningProxy,
  startProxy,
  TEST_CREDENTIALS,
  USER,
} from '../__testUtils__/startProxy';
import { capturingLogger, LogEntry } from '../__testUtils__/capturingLogger';

const P = '/api/proxy-sigv4';
const api = { service: 'execute-api', region: 'eu-west-1' };
const BODY = 'confidential-body-content-'.repeat(40);

let upstream: VerifyingUpstream;
let proxy: RunningProxy;
const logs = capturingLogger();

beforeAll(async () => {
  upstream = await startVerifyingUpstream({
    [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS,
  });
  proxy = await startProxy(
    {
      '/api': { target: `${upstream.url}/prod`, ...api, allowedMethods: ['GET', 'PUT', 'HEAD'] },
      '/img': { target: `${upstream.url}/img`, service: 's3', region: 'us-east-1', credentials: 'user-cookie' },
      '/open': { target: `${upstream.url}/open`, ...api, credentials: 'dangerously-allow-unauthenticated' },
      '/s3stream': { target: `${upstream.url}/bucket`, service: 's3', region: 'us-east-1', unsignedPayload: true },
      '/s3chunked': { target: `${upstream.url}/bucket`, service: 's3', region: 'us-east-1', maxBodySize: 100, maxUploadSize: 100_000 },
    },
    {},
    { logger: logs.factory },
  );
});
afterAll(async () => {
  await proxy.stop();
  await upstream.close();
});
beforeEach(() => {
  upstream.handler = echoHandler;
  logs.entries.length = 0;
});

const audits = () => logs.entries.filter(e => e.fields.isAuditEvent);

/** The audit entries of the one request made, once its final entry is written. */
async function auditOfOneRequest(): Promise<{ initiated: LogEntry; final: LogEntry }> {
  for (let i = 0; i < 200 && audits().length < 2; i++) {
    await new Promise(r => setTimeout(r, 10));
  }
  const entries = audits();
  expect(entries.map(e => e.fields.status)).toEqual([
    'initiated',
    expect.stringMatching(/^(succeeded|failed)$/),
  ]);
  for (const entry of entries) {
    expect(entry.message).toBe('proxy-sigv4.proxy-request');
    // Neither the Backstage token, nor the AWS secret, nor the body, nor the signature.
    const text = JSON.stringify({ ...entry, error: entry.error?.message });
    for (const secret of [USER.slice('Bearer '.length), TEST_CREDENTIALS.secretAccessKey, 'confidential-body', 'AWS4-HMAC-SHA256']) {
      expect(text).not.toContain(secret);
    }
  }
  return { initiated: entries[0], final: entries[1] };
}

it('records a read as low severity: who, route, method, path without query, status and bytes', async () => {
  const res = await proxy.http().get(`${P}/api/items/1?secretQuery=x`).set('authorization', USER);
  expect(res.status).toBe(200);
  const { initiated, final } = await auditOfOneRequest();
  expect(initiated.level).toBe('debug'); // Backstage maps low severity to debug by default
  expect(initiated.fields).toMatchObject({
    plugin: 'proxy-sigv4',
    eventId: 'proxy-request',
    severityLevel: 'low',
    actor: { actorId: 'user:default/mock' },
    meta: { method: 'GET', path: '/api/items/1' }, // the route is known once matched
  });
  expect(final.fields).toMatchObject({
    status: 'succeeded',
    meta: {
      route: '/api',
      method: 'GET',
      path: '/api/items/1',
      caller: 'user:default/mock',
      status: 200,
      requestBytes: 0,
      responseBytes: Buffer.byteLength(res.text),
    },
  });
  expect(JSON.stringify(final.fields.meta)).not.toContain('secretQuery');
});

it('records a write as medium severity, with the body size and not the body', async () => {
  const res = await proxy.http().put(`${P}/api/items/1`).set('authorization', USER).send(BODY);
  expect(res.status).toBe(200);
  const { final } = await auditOfOneRequest();
  expect(final.level).toBe('info');
  expect(final.fields).toMatchObject({
    severityLevel: 'medium',
    meta: { method: 'PUT', status: 200, requestBytes: BODY.length, responseBytes: Buffer.byteLength(res.text) },
  });
});

it('counts a streamed upload as it goes', async () => {
  const res = await proxy
    .http()
    .put(`${P}/s3stream/key`)
    .set('authorization', USER)
    .send(BODY);
  expect(res.status).toBe(200);
  const { final } = await auditOfOneRequest();
  expect(final.fields.meta).toMatchObject({ route: '/s3stream', requestBytes: BODY.length });
});

it("records the upstream's error answers as passed back (succeeded, with their status)", async () => {
  upstream.handler = (_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"message":"no such item"}');
  };
  const res = await proxy.http().get(`${P}/api/items/2`).set('authorization', USER);
  expect(res.status).toBe(404);
  const { final } = await auditOfOneRequest();
  expect(final.fields).toMatchObject({ status: 'succeeded', meta: { status: 404, responseBytes: 26 } });
});

it("records the proxy's own refusals as failed, with the reason", async () => {
  const res = await proxy.http().delete(`${P}/api/items/1`).set('authorization', USER);
  expect(res.status).toBe(405);
  const { final } = await auditOfOneRequest();
  expect(final.fields).toMatchObject({ status: 'failed', meta: { status: 405, method: 'DELETE' } });
  expect(final.error?.name).toBe('MethodNotAllowedError');
});

it('records a download the caller abandoned as failed: cut off', async () => {
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write(Buffer.alloc(64 * 1024));
    // ... and never ends.
  };
  await new Promise<void>((resolve, reject) => {
    const req = http.get(`${proxy.baseUrl}${P}/api/big`, { headers: { authorization: USER } }, res => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', e => ((e as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(e)));
  });
  const { final } = await auditOfOneRequest();
  expect(final.fields).toMatchObject({ status: 'failed', meta: { status: 200 } });
  expect(final.error?.message).toBe('The response was cut off before its end');
  expect((final.fields.meta as { responseBytes: number }).responseBytes).toBeGreaterThan(0);
});

it("counts a chunk-signed upload's payload bytes, not its framing", async () => {
  const res = await proxy.http().put(`${P}/s3chunked/big.bin`).set('authorization', USER).set('content-type', 'text/plain').send(BODY);
  expect(res.status).toBe(200);
  expect(upstream.received.at(-1)!.chunked).toBeDefined();
  const { final } = await auditOfOneRequest();
  expect(final.fields.meta).toMatchObject({ method: 'PUT', status: 200, requestBytes: BODY.length });
});

it('names the user of a cookie, whom the auditor itself does not see', async () => {
  const res = await proxy
    .http()
    .get(`${P}/img/cat.png`)
    .set('cookie', mockCredentials.limitedUser.cookie('user:default/alice'));
  expect(res.status).toBe(200);
  const { final } = await auditOfOneRequest();
  expect(final.fields.meta).toMatchObject({ caller: 'user:default/alice' });
});

it('records an open route called with a token nobody can verify as anonymous, not as the plugin, and still serves it', async () => {
  const res = await proxy
    .http()
    .get(`${P}/open/x`)
    .set('authorization', mockCredentials.user.invalidHeader())
    .set('user-agent', 'probe/1.0');
  expect(res.status).toBe(200);
  const { final } = await auditOfOneRequest();
  expect(final.fields).toMatchObject({
    status: 'succeeded',
    actor: { actorId: undefined, userAgent: 'probe/1.0' },
    request: { method: 'GET', url: `${P}/open/x` },
    meta: { route: '/open', caller: 'anonymous', unverifiedToken: true },
  });
});

it('records a request that matches no route', async () => {
  const res = await proxy.http().get(`${P}/nowhere/x`).set('authorization', USER);
  expect(res.status).toBe(404);
  const { final } = await auditOfOneRequest();
  expect(final.fields).toMatchObject({ status: 'failed', meta: { route: '?', status: 404 } });
});

it('records, and cuts off, a pipelined request whose connection dies while its answer waits its turn', async () => {
  const upstreamClosed: string[] = [];
  upstream.handler = (req, res) => {
    res.on('close', () => upstreamClosed.push(`${req.url} ${res.writableFinished ? 'finished' : 'cut off'}`));
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    if (req.url === '/prod/big') {
      res.write(Buffer.alloc(4 * 1024 * 1024)); // more than the queued answer can hold
    }
    // ... and neither ends.
  };
  const socket = net.connect(Number(new URL(proxy.baseUrl).port), '127.0.0.1');
  await new Promise(r => socket.once('connect', r));
  socket.write(
    `GET ${P}/api/slow HTTP/1.1\r\nHost: x\r\nAuthorization: ${USER}\r\n\r\n` +
      `GET ${P}/api/big HTTP/1.1\r\nHost: x\r\nAuthorization: ${USER}\r\n\r\n`,
  );
  for (let i = 0; i < 500 && upstream.received.length < 2; i++) {
    await new Promise(r => setTimeout(r, 10));
  }
  socket.destroy();
  for (let i = 0; i < 500 && (upstreamClosed.length < 2 || audits().length < 4); i++) {
    await new Promise(r => setTimeout(r, 10));
  }
  expect(upstreamClosed.sort()).toEqual(['/prod/big cut off', '/prod/slow cut off']);
  const finals = audits().filter(e => e.fields.status !== 'initiated');
  expect(finals.map(e => [(e.fields.meta as { path: string }).path, e.fields.status]).sort()).toEqual([
    ['/api/big', 'failed'],
    ['/api/slow', 'failed'],
  ]);
});

/*
 * The self-hosted credentials endpoint: a real HTTP server on loopback answers in each
 * accepted shape and in each way it can fail; and end to end, a route whose credentials
 * come from it signs requests that an upstream verifies.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { credentialsEndpointFetcher } from './credentialsEndpoint';
import { CredentialsEndpointSource } from '../config/types';
import { AcceptedCredentials, awsErrorHandler, startVerifyingUpstream } from '../../localAws';
import { startProxy, USER } from '../__testUtils__/startProxy';

const API_KEY = 'the-helper-api-key';
const SECRET = 'the-secret-access-key';
const TOKEN = 'the-session-token';

interface Call {
  method: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

let server: http.Server;
let url: string;
let calls: Call[];
let answer: (res: http.ServerResponse) => void;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString());
      } catch {
        body = Buffer.concat(chunks).toString();
      }
      calls.push({ method: req.method!, headers: req.headers, body });
      answer(res);
    });
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/credentials`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise(r => server.close(r));
});

beforeEach(() => {
  calls = [];
});

const json = (status: number, value: unknown) => (res: http.ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof value === 'string' ? value : JSON.stringify(value));
};

const source = (): CredentialsEndpointSource => ({
  url,
  headers: { 'x-api-key': API_KEY },
  roleArn: 'arn:aws:iam::111122223333:role/partner',
  externalId: '7f1c-external',
  region: 'eu-west-1',
  service: 'execute-api',
});

const inAnHour = () => new Date(Date.now() + 3600_000);

it('POSTs the role, external id, region and service as JSON, with the configured headers', async () => {
  answer = json(200, { accessKeyId: 'ASIA1', secretAccessKey: SECRET, sessionToken: TOKEN });
  await credentialsEndpointFetcher(source())();
  expect(calls).toHaveLength(1);
  expect(calls[0].method).toBe('POST');
  expect(calls[0].headers['x-api-key']).toBe(API_KEY);
  expect(calls[0].headers['content-type']).toBe('application/json');
  expect(calls[0].body).toEqual({
    role_arn: 'arn:aws:iam::111122223333:role/partner',
    external_id: '7f1c-external',
    region: 'eu-west-1',
    service: 'execute-api',
  });
});

describe('reads the answer', () => {
  const expiry = new Date('2030-01-02T03:04:05.000Z');
  it.each([
    ['flat camelCase, ISO expiresAt', { accessKeyId: 'A', secretAccessKey: SECRET, sessionToken: TOKEN, expiresAt: expiry.toISOString() }],
    ['wrapped in credentials', { credentials: { accessKeyId: 'A', secretAccessKey: SECRET, sessionToken: TOKEN, expiresAt: expiry.toISOString() } }],
    ['snake_case, Unix seconds in expires_at', { access_key_id: 'A', secret_access_key: SECRET, session_token: TOKEN, expires_at: expiry.getTime() / 1000 }],
    ['wrapped snake_case, expiration as a string of seconds', { credentials: { access_key_id: 'A', secret_access_key: SECRET, session_token: TOKEN, expiration: String(expiry.getTime() / 1000) } }],
    ['STS-style PascalCase, Expiration', { Credentials: { AccessKeyId: 'A', SecretAccessKey: SECRET, SessionToken: TOKEN, Expiration: expiry.toISOString() } }],
  ])('%s', async (_shape, body) => {
    answer = json(200, body);
    expect(await credentialsEndpointFetcher(source())()).toEqual({
      accessKeyId: 'A',
      secretAccessKey: SECRET,
      sessionToken: TOKEN,
      expiration: expiry,
    });
  });

  it('takes credentials without an expiry to last one hour', async () => {
    answer = json(200, { accessKeyId: 'A', secretAccessKey: SECRET, sessionToken: TOKEN });
    const before = Date.now();
    const { expiration } = await credentialsEndpointFetcher(source())();
    expect(expiration!.getTime()).toBeGreaterThanOrEqual(before + 3600_000);
    expect(expiration!.getTime()).toBeLessThanOrEqual(Date.now() + 3600_000);
  });
});

describe('fails with a 503 that says what was wrong, never what was sent or answered', () => {
  it.each([
    ['a non-2xx answer', json(401, { error: 'bad key', echoed: API_KEY }), 'answered HTTP 401'],
    ['a redirect, not followed', (res: http.ServerResponse) => {
      res.writeHead(302, { location: 'https://elsewhere.example/steal' });
      res.end();
    }, 'answered HTTP 302'],
    ['an answer that is not JSON', json(200, `<html>${SECRET}</html>`), 'did not answer JSON'],
    ['JSON that is not an object', json(200, [SECRET]), 'answered JSON that is not an object'],
    ['missing fields', json(200, { accessKeyId: 'A', sessionToken: TOKEN }), 'answered without secretAccessKey'],
    ['an unreadable expiry', json(200, { accessKeyId: 'A', secretAccessKey: SECRET, sessionToken: TOKEN, expiresAt: 'tomorrow' }), 'answered an expiry that is neither an ISO date nor Unix seconds'],
    ['an expiry in milliseconds', json(200, { accessKeyId: 'A', secretAccessKey: SECRET, sessionToken: TOKEN, expiresAt: Date.now() + 3600_000 }), 'answered an expiry in milliseconds; Unix seconds are expected'],
    ['a session token that cannot go in a header', json(200, { accessKeyId: 'A', secretAccessKey: SECRET, sessionToken: 'line\nbreak' }), 'answered a malformed sessionToken'],
    ['an answer too large to be credentials', json(200, { accessKeyId: 'A', padding: 'x'.repeat(70_000) }), 'answered more than 65536 bytes'],
    ['credentials already expired', json(200, { accessKeyId: 'A', secretAccessKey: SECRET, sessionToken: TOKEN, expiresAt: 1_000_000_000 }), 'answered credentials that expired at 2001-09-09T01:46:40.000Z'],
  ])('%s', async (_case, respond, message) => {
    answer = respond;
    const error = await credentialsEndpointFetcher(source())().then(
      () => undefined,
      e => e as Error,
    );
    expect(error).toMatchObject({ name: 'ServiceUnavailableError' });
    expect(error!.message).toBe(`The credentials endpoint ${new URL(url).origin} ${message}`);
    for (const secret of [API_KEY, SECRET, TOKEN, '7f1c-external']) {
      expect(error!.message).not.toContain(secret);
    }
  });

  it('an endpoint that cannot be reached', async () => {
    const closed = http.createServer();
    await new Promise<void>(r => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise(r => closed.close(r));
    await expect(
      credentialsEndpointFetcher({ ...source(), url: `http://127.0.0.1:${port}/x` })(),
    ).rejects.toThrow(`The credentials endpoint http://127.0.0.1:${port} could not be reached (ECONNREFUSED)`);
  });
});

it('signs a route with the credentials it answers, end to end', async () => {
  const accepted: AcceptedCredentials = {
    ASIAHELPER: { secretAccessKey: SECRET, sessionToken: TOKEN, expiresAt: Date.now() + 3600_000 },
  };
  const upstream = await startVerifyingUpstream(accepted);
  upstream.handler = awsErrorHandler;
  answer = json(200, { credentials: { access_key_id: 'ASIAHELPER', secret_access_key: SECRET, session_token: TOKEN, expires_at: inAnHour().toISOString() } });
  const proxy = await startProxy({
    '/partner': {
      target: upstream.url,
      service: 'execute-api',
      region: 'eu-west-1',
      roleArn: 'arn:aws:iam::111122223333:role/partner',
      externalId: '7f1c-external',
      credentialsEndpoint: { url, headers: { 'X-Api-Key': API_KEY } },
    },
  });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await proxy.http().get('/api/proxy-sigv4/partner/orders').set('authorization', USER);
      expect(res.status).toBe(200);
      expect(res.body.signatureError).toBeUndefined();
    }
    expect(calls).toHaveLength(1); // cached
    expect(calls[0].headers['x-api-key']).toBe(API_KEY);

    // The endpoint failing: 503 with the reason, not the key.
    answer = json(500, { error: API_KEY });
    accepted.ASIAHELPER.expiresAt = 0;
    const res = await proxy.http().get('/api/proxy-sigv4/partner/orders').set('authorization', USER);
    expect(res.status).toBe(503);
    expect(res.body.error.message).toBe(`The credentials endpoint ${new URL(url).origin} answered HTTP 500`);
    expect(res.text).not.toContain(API_KEY);
  } finally {
    await proxy.stop();
    await upstream.close();
  }
});

/*
 * Credentials from the AWS SDK default chain through the real plugin: session tokens are
 * sent and signed, and missing credentials are a 503 that says why.
 */
import { startVerifyingUpstream, VerifyingUpstream } from '../localAws';
import { RunningProxy, startProxy, USER } from './__testUtils__/startProxy';
import { rawHttp } from './__testUtils__/rawHttp';
import { capturingLogger } from './__testUtils__/capturingLogger';

const ENV_KEYS = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
];
const saved: Record<string, string | undefined> = {};
const temporary = {
  accessKeyId: 'ASIATEMPORARY',
  secretAccessKey: 'temporary-secret',
  sessionToken: 'FwoGZXIvYXdzEXAMPLETOKEN+/=',
};

let upstream: VerifyingUpstream;
beforeAll(async () => {
  for (const key of ENV_KEYS) {
    saved[key] = process.env[key];
    delete process.env[key];
  }
  // The chain must never reach for instance metadata (no network beyond loopback).
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
  process.env.AWS_CONFIG_FILE = '/nonexistent/config';
  upstream = await startVerifyingUpstream({ [temporary.accessKeyId]: temporary });
});

afterAll(async () => {
  await upstream.close();
  for (const key of ENV_KEYS) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

async function withProxy(test: (proxy: RunningProxy, port: number) => Promise<void>) {
  const proxy = await startProxy(
    { '/api': { target: `${upstream.url}/prod`, service: 'execute-api', region: 'eu-west-1' } },
    { aws: {} }, // no main account: the SDK default chain
  );
  try {
    await test(proxy, Number(new URL(proxy.baseUrl).port));
  } finally {
    await proxy.stop();
  }
}

it('signs with temporary credentials from the default chain, session token included', async () => {
  process.env.AWS_ACCESS_KEY_ID = temporary.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = temporary.secretAccessKey;
  process.env.AWS_SESSION_TOKEN = temporary.sessionToken;
  try {
    await withProxy(async (_proxy, port) => {
      const res = await rawHttp(port, 'GET /api/proxy-sigv4/api/x HTTP/1.1', { authorization: USER });
      expect(res.status).toBe(200);
      const received = upstream.received.at(-1)!;
      expect(received.signatureError).toBeUndefined();
      expect(received.headers['x-amz-security-token']).toBe(temporary.sessionToken);
      expect(received.signedHeaders).toContain('x-amz-security-token');
    });
  } finally {
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    delete process.env.AWS_SESSION_TOKEN;
  }
});

it('answers 503, saying why, when no credentials can be had, and sends nothing', async () => {
  const before = upstream.received.length;
  await withProxy(async (_proxy, port) => {
    const res = await rawHttp(port, 'GET /api/proxy-sigv4/api/x HTTP/1.1', { authorization: USER });
    expect(res.status).toBe(503);
    const body = JSON.parse(res.body);
    expect(body).toMatchObject({
      error: { name: 'ServiceUnavailableError' },
      response: { statusCode: 503 },
    });
    expect(body.error.message).toMatch(/^Could not get AWS credentials for the main AWS account: /);
  });
  expect(upstream.received.length).toBe(before);
});

it('warns at start about plain http off loopback and about permissions checked by method on an operation API', async () => {
  const logs = capturingLogger();
  const proxy = await startProxy(
    {
      '/localstack': { target: 'http://localstack:4566', service: 's3', region: 'us-east-1', dangerouslyAllowHttp: true },
      '/queues': { target: 'https://sqs.eu-west-1.amazonaws.com', permission: 'proxy-sigv4.queues' },
      '/queues-checked': { target: 'https://sqs.eu-west-1.amazonaws.com', permission: 'proxy-sigv4.queues', allowedOperations: ['List*'] },
      '/api': { target: 'https://abc.execute-api.eu-west-1.amazonaws.com', permission: 'proxy-sigv4.api' },
    },
    { aws: {}, permission: { enabled: true } },
    { logger: logs.factory },
  );
  await proxy.stop();
  const warnings = logs.entries.filter(e => e.level === 'warn').map(e => e.message);
  expect(warnings).toContain(
    'proxysigv4 route /localstack sends signed requests over plain http to localstack: the session token, bodies and answers cross the network in clear (dangerouslyAllowHttp)',
  );
  expect(warnings.filter(w => w.includes('checks permission'))).toEqual([
    'proxysigv4 route /queues checks permission proxy-sigv4.queues by HTTP method, but sqs names the operation in the request (Action, X-Amz-Target): GET /?Action=Delete... is checked as read and every JSON-protocol call as create. Set allowedOperations to check the operation',
  ]);
  expect(logs.entries.map(e => e.message)).toContain(
    'proxysigv4 route /queues-checked -> https://sqs.eu-west-1.amazonaws.com (service sqs, region eu-west-1, permission proxy-sigv4.queues, operations List*)',
  );
});

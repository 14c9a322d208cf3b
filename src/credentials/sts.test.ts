/*
 * AssumeRole end to end: a real test backend whose routes assume roles through the real
 * @aws-sdk/client-sts, against a local STS on loopback that checks the SDK's signatures
 * (aws4) and issues credentials of a chosen lifetime, and an upstream that accepts only the
 * credentials that STS issued, while they are unexpired.
 */
import { mockServices } from '@backstage/backend-test-utils';
import {
  AcceptedCredentials,
  awsErrorHandler,
  echoHandler,
  LocalSts,
  startLocalSts,
  startVerifyingUpstream,
  UpstreamHandler,
  VerifyingUpstream,
} from '../../localAws';
import {
  RunningProxy,
  startProxy,
  TEST_CREDENTIALS,
  USER,
} from '../__testUtils__/startProxy';
import { stsEndpointFor } from './sts';

const P = '/api/proxy-sigv4';
const MAIN_ARN = 'arn:aws:iam::111111111111:user/backstage';
const ACCOUNT = {
  accountId: '222222222222',
  accessKeyId: 'AKIDACCOUNT222',
  secretAccessKey: 'account-secret/222',
};
const ROLE = 'arn:aws:iam::210987654321:role/backstage-billing-read';
const EXTERNAL_ID = 'ext-7f1c-secret-external-id';

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

const xmlErrors = awsErrorHandler;

let accepted: AcceptedCredentials;
let upstream: VerifyingUpstream;
let sts: LocalSts;
let proxy: RunningProxy | undefined;

beforeEach(async () => {
  // The upstream accepts only what the local STS issues.
  accepted = {};
  upstream = await startVerifyingUpstream(accepted);
  upstream.handler = xmlErrors;
  sts = await startLocalSts({
    sources: {
      [TEST_CREDENTIALS.accessKeyId]: { ...TEST_CREDENTIALS, arn: MAIN_ARN },
      [ACCOUNT.accessKeyId]: { ...ACCOUNT, arn: 'arn:aws:iam::222222222222:user/proxy' },
    },
    accepted,
  });
});

afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
  await upstream.close();
  await sts.close();
});

const billing = () => ({
  target: `${upstream.url}/prod`,
  service: 'execute-api',
  region: 'eu-west-1',
  roleArn: ROLE,
  externalId: EXTERNAL_ID,
  roleSessionName: 'backstage-billing',
  durationSeconds: 3600,
  stsRegion: 'us-east-1',
  stsEndpoint: sts.url,
});

/** Polls a path until it answers 200 (the retry delay has passed), for up to 5 s. */
async function statusOnceRecovered(path: string): Promise<number> {
  let status = 0;
  const deadline = Date.now() + 5000;
  while (status !== 200 && Date.now() < deadline) {
    await sleep(200);
    status = (await proxy!.http().get(path).set('authorization', USER)).status;
  }
  return status;
}

const withAccounts = { aws: { mainAccount: TEST_CREDENTIALS, accounts: [ACCOUNT] } };

it('assumes the role as configured, with the main account, and signs with what STS issued', async () => {
  proxy = await startProxy({ '/billing': billing() });
  const res = await proxy.http().get(`${P}/billing/invoices?year=2026`).set('authorization', USER);
  expect(res.status).toBe(200);
  expect(res.body.signatureError).toBeUndefined();

  const [call] = sts.assumeRoleCalls();
  expect(sts.assumeRoleCalls()).toHaveLength(1);
  expect(call.signatureError).toBeUndefined();
  expect(call).toMatchObject({
    accessKeyId: TEST_CREDENTIALS.accessKeyId,
    service: 'sts',
    region: 'us-east-1',
    params: {
      Action: 'AssumeRole',
      Version: '2011-06-15',
      RoleArn: ROLE,
      ExternalId: EXTERNAL_ID,
      RoleSessionName: 'backstage-billing',
      DurationSeconds: '3600',
    },
  });
  const [issued] = sts.issued;
  const arrived = upstream.received[0];
  expect(arrived.headers.authorization).toContain(`Credential=${issued.accessKeyId}/`);
  expect(arrived.headers['x-amz-security-token']).toBe(issued.sessionToken);
  expect(arrived.signedHeaders).toContain('x-amz-security-token');
  expect(arrived.region).toBe('eu-west-1');
});

it("assumes with accountId's credentials, the default session name, and the route's region", async () => {
  proxy = await startProxy(
    {
      '/acct': {
        target: upstream.url,
        service: 'execute-api',
        region: 'eu-west-1',
        accountId: ACCOUNT.accountId,
        roleArn: 'arn:aws:iam::333333333333:role/path/to/reader',
        stsEndpoint: sts.url,
      },
    },
    withAccounts,
  );
  expect((await proxy.http().get(`${P}/acct/x`).set('authorization', USER)).status).toBe(200);
  const [call] = sts.assumeRoleCalls();
  expect(call.signatureError).toBeUndefined();
  expect(call.accessKeyId).toBe(ACCOUNT.accessKeyId);
  expect(call.region).toBe('eu-west-1');
  expect(call.params.RoleSessionName).toBe('backstage-proxy-sigv4');
  expect(call.params.RoleArn).toBe('arn:aws:iam::333333333333:role/path/to/reader');
  expect(call.params).not.toHaveProperty('ExternalId');
  expect(call.params).not.toHaveProperty('DurationSeconds');
});

it('calls AssumeRole once for 100 concurrent requests on a cold cache, shared by routes with the same role', async () => {
  sts.delayMs = 300;
  proxy = await startProxy({ '/a': billing(), '/b': billing() });
  const responses = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      proxy!.http().get(`${P}/${i % 2 ? 'a' : 'b'}/item/${i}`).set('authorization', USER),
    ),
  );
  expect(responses.map(r => r.status)).toEqual(Array(100).fill(200));
  expect(sts.assumeRoleCalls()).toHaveLength(1);
  expect(new Set(upstream.received.map(r => r.headers['x-amz-security-token']))).toEqual(
    new Set([sts.issued[0].sessionToken]),
  );
});

it('keeps separate credentials for a different external id or session name', async () => {
  proxy = await startProxy({
    '/a': billing(),
    '/b': { ...billing(), externalId: 'another-external-id' },
    '/c': { ...billing(), roleSessionName: 'another-session' },
  });
  for (const r of ['a', 'b', 'c', 'a', 'b', 'c']) {
    expect((await proxy.http().get(`${P}/${r}/x`).set('authorization', USER)).status).toBe(200);
  }
  expect(sts.assumeRoleCalls().map(c => [c.params.ExternalId, c.params.RoleSessionName])).toEqual([
    [EXTERNAL_ID, 'backstage-billing'],
    ['another-external-id', 'backstage-billing'],
    [EXTERNAL_ID, 'another-session'],
  ]);
});

it('refreshes ahead of expiry under continuous load: no request fails or waits on STS', async () => {
  // 4.5 s credentials: used until 1.5 s before expiry, refreshed from 3 s before. STS takes
  // 0.8 s to answer, so a request that waited for it would take at least that long.
  sts.lifetimeMs = 4500;
  sts.delayMs = 800;
  proxy = await startProxy({ '/billing': billing() });
  expect((await proxy.http().get(`${P}/billing/warm`).set('authorization', USER)).status).toBe(200);

  const statuses: number[] = [];
  const slow: number[] = [];
  const until = Date.now() + 8000;
  const worker = async () => {
    while (Date.now() < until) {
      const started = Date.now();
      const res = await proxy!.http().get(`${P}/billing/load`).set('authorization', USER);
      statuses.push(res.status);
      if (Date.now() - started >= 800) slow.push(Date.now() - started);
      await sleep(20);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);

  expect(statuses.length).toBeGreaterThan(100);
  expect(statuses.filter(s => s !== 200)).toEqual([]);
  expect(upstream.received.filter(r => r.signatureError)).toEqual([]);
  // 8.5 s of 4.5 s credentials refreshed 3 s before expiry: at least three more AssumeRoles.
  expect(sts.assumeRoleCalls().length).toBeGreaterThanOrEqual(4);
  expect(slow).toEqual([]);
}, 20_000);

it('answers 503 with the reason while STS denies, logs it once, and recovers without a restart', async () => {
  const logger = mockServices.logger.mock();
  sts.mode = 'deny';
  proxy = await startProxy({ '/billing': billing() }, {}, { logger: logger.factory });
  for (let i = 0; i < 10; i++) {
    const res = await proxy.http().get(`${P}/billing/x`).set('authorization', USER);
    expect(res.status).toBe(503);
    expect(res.body.error.message).toContain(`Could not assume role ${ROLE}: AccessDenied`);
    expect(JSON.stringify(res.body)).not.toContain(EXTERNAL_ID);
  }
  expect(upstream.received).toHaveLength(0);
  const warnings = logger.warn.mock.calls.map(c => String(c[0]));
  expect(warnings.filter(w => w.includes(ROLE))).toHaveLength(1);
  expect(warnings.join('\n')).not.toContain(EXTERNAL_ID);

  sts.mode = 'ok';
  expect(await statusOnceRecovered(`${P}/billing/x`)).toBe(200);
  expect(logger.info.mock.calls.map(c => String(c[0])).join('\n')).toMatch(/got credentials for role .* again after/);
});

describe('when the upstream rejects the credentials', () => {
  const revoke = () => {
    for (const issued of sts.issued) accepted[issued.accessKeyId].expiresAt = 0;
  };

  it.each([
    ['S3 XML ExpiredToken', xmlErrors],
    [
      'JSON __type ExpiredTokenException',
      ((req, res, received) => {
        if (!received.errorCode) return echoHandler(req, res, received);
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        return res.end(JSON.stringify({ __type: 'com.amazon.coral.service#ExpiredTokenException', message: 'The security token included in the request is expired' }));
      }) as UpstreamHandler,
    ],
    [
      'API Gateway message',
      ((req, res, received) => {
        if (!received.errorCode) return echoHandler(req, res, received);
        res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'ExpiredTokenException' });
        return res.end(JSON.stringify({ message: 'The security token included in the request is expired' }));
      }) as UpstreamHandler,
    ],
  ])('drops them, assumes the role again and retries once (%s)', async (_shape, handler) => {
    upstream.handler = handler;
    proxy = await startProxy({ '/billing': billing() });
    expect((await proxy.http().get(`${P}/billing/first`).set('authorization', USER)).status).toBe(200);
    revoke();

    const res = await proxy.http().post(`${P}/billing/orders`).set('authorization', USER).send({ amount: 42 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ method: 'POST', bodyLength: 13 });
    expect(sts.assumeRoleCalls()).toHaveLength(2);
    const [rejected, replayed] = upstream.received.slice(1);
    expect(rejected.errorCode).toBe('ExpiredToken');
    expect(replayed.signatureError).toBeUndefined();
    expect(replayed.body.toString()).toBe('{"amount":42}');
    expect(replayed.headers['x-amz-security-token']).toBe(sts.issued[1].sessionToken);
  });

  it('retries unknown credentials (InvalidAccessKeyId) the same way', async () => {
    proxy = await startProxy({ '/billing': billing() });
    expect((await proxy.http().get(`${P}/billing/first`).set('authorization', USER)).status).toBe(200);
    delete accepted[sts.issued[0].accessKeyId];
    expect((await proxy.http().get(`${P}/billing/again`).set('authorization', USER)).status).toBe(200);
    expect(upstream.received.map(r => r.errorCode)).toEqual([undefined, 'InvalidAccessKeyId', undefined]);
  });

  it('passes the rejection on when fresh credentials are rejected too (one retry only)', async () => {
    proxy = await startProxy({ '/billing': billing() });
    expect((await proxy.http().get(`${P}/billing/first`).set('authorization', USER)).status).toBe(200);
    sts.lifetimeMs = 0; // STS now issues credentials the upstream takes as expired
    revoke();
    const res = await proxy.http().get(`${P}/billing/again`).set('authorization', USER);
    expect(res.status).toBe(403);
    expect(res.text).toContain('<Code>ExpiredToken</Code>');
    expect(upstream.received).toHaveLength(3);
  });

  it('forces at most one refresh per interval, whatever the upstream says: 20 rejected requests, 2 AssumeRoles', async () => {
    const logger = mockServices.logger.mock();
    proxy = await startProxy({ '/billing': billing() }, {}, { logger: logger.factory });
    expect((await proxy.http().get(`${P}/billing/first`).set('authorization', USER)).status).toBe(200);
    // From now on the upstream calls every credential expired, whatever STS issued.
    upstream.handler = ((_req, res) => {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>');
    }) as UpstreamHandler;
    for (let i = 0; i < 20; i++) {
      const res = await proxy.http().get(`${P}/billing/x${i}`).set('authorization', USER);
      // The upstream's own answer, passed on once no refresh is allowed.
      expect(res.status).toBe(403);
      expect(res.text).toContain('<Code>ExpiredToken</Code>');
    }
    // The first start-up fetch, and one refresh forced by the first rejection.
    expect(sts.assumeRoleCalls()).toHaveLength(2);
    // 1 + the first request's retry + 19 requests sent once.
    expect(upstream.received).toHaveLength(1 + 2 + 19);
    const rejections = logger.warn.mock.calls.map(c => String(c[0])).filter(m => m.includes('rejected the credentials'));
    expect(rejections).toHaveLength(1);
  });

  it('logs the rejection once per credential, however many requests met it', async () => {
    const logger = mockServices.logger.mock();
    sts.delayMs = 200;
    proxy = await startProxy({ '/billing': billing() }, {}, { logger: logger.factory });
    expect((await proxy.http().get(`${P}/billing/first`).set('authorization', USER)).status).toBe(200);
    revoke();
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => proxy!.http().get(`${P}/billing/x`).set('authorization', USER)),
    );
    expect(statuses.map(r => r.status)).toEqual(Array(20).fill(200));
    expect(sts.assumeRoleCalls()).toHaveLength(2);
    const rejections = logger.warn.mock.calls.map(c => String(c[0])).filter(m => m.includes('rejected the credentials'));
    expect(rejections).toEqual([
      `proxysigv4: the upstream rejected the credentials for role ${ROLE} (assumed with the main AWS account) as expired or unknown before they were due to expire (clock skew, or revoked sessions?); getting new ones`,
    ]);
  });

  it('answers 502 when the upstream cuts off the error it is reading', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(403, { 'content-type': 'application/xml', 'content-length': '1000' });
      res.write('<Error><Code>Expi');
      setTimeout(() => res.socket?.destroy(), 20);
    };
    proxy = await startProxy({ '/billing': billing() });
    const res = await proxy.http().get(`${P}/billing/x`).set('authorization', USER);
    expect(res.status).toBe(502);
    expect(sts.assumeRoleCalls()).toHaveLength(1);
  });

  it('answers 504 when the upstream stalls in the middle of an error answer', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(403, { 'content-type': 'application/xml', 'content-length': '1000' });
      res.write('<Error><Code>Expi'); // and nothing more
    };
    proxy = await startProxy({ '/billing': { ...billing(), timeout: 300 } });
    const res = await proxy.http().get(`${P}/billing/x`).set('authorization', USER);
    expect(res.status).toBe(504);
    expect(res.body.error.message).toBe('The upstream did not answer within 300 ms');
  });

  // A DynamoDB-like ValidationException that echoes a caller-supplied value (as real services do).
  const validationEcho: UpstreamHandler = (req, res, received) => {
    if (received.signatureError) {
      echoHandler(req, res, received);
      return;
    }
    const input = JSON.parse(received.body.toString() || '{}').TableName ?? '';
    res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': 'ValidationException' });
    res.end(JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException',
      message: `1 validation error detected: Value '${input}' at 'tableName' failed to satisfy constraint` }));
  };

  it('does not take the caller\'s words echoed in a 400 for rejected credentials: no dropped credentials, no replay', async () => {
    const logger = mockServices.logger.mock();
    upstream.handler = validationEcho;
    proxy = await startProxy({ '/ddb': { ...billing(), service: 'dynamodb' } }, {}, { logger: logger.factory });
    const N = 10;
    for (let i = 0; i < N; i++) {
      const res = await proxy.http().post(`${P}/ddb/`).set('authorization', USER)
        .send({ TableName: 'the security token included in the request is expired' });
      expect(res.status).toBe(400);
    }
    const rejections = logger.warn.mock.calls.map(c => String(c[0])).filter(m => m.includes('rejected the credentials'));
    expect(rejections).toEqual([]);
    expect(upstream.received).toHaveLength(N);
    expect(sts.assumeRoleCalls()).toHaveLength(1);
  });

  it('passes an application 403 {"code":"InvalidToken"} through without replaying the POST', async () => {
    upstream.handler = (req, res, received) => {
      if (received.signatureError) {
        echoHandler(req, res, received);
        return;
      }
      res.writeHead(403, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: 'InvalidToken', message: 'your session token is invalid' }));
    };
    proxy = await startProxy({ '/api': billing() });
    const res = await proxy.http().post(`${P}/api/orders`).set('authorization', USER).send({ amount: 1 });
    expect(res.status).toBe(403);
    expect(upstream.received).toHaveLength(1);
  });

  it('passes other 403s through untouched, without a retry', async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
    };
    proxy = await startProxy({ '/billing': billing() });
    const res = await proxy.http().get(`${P}/billing/x`).set('authorization', USER);
    expect(res.status).toBe(403);
    expect(res.text).toBe('<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
    expect(upstream.received).toHaveLength(1);
    expect(sts.assumeRoleCalls()).toHaveLength(1);
  });

  it.each([
    ['unsigned payload', { unsignedPayload: true }, 'streamed body'],
    ['chunk-signed', { maxBodySize: 100, maxUploadSize: 10_000 }, 'x'.repeat(5000)],
  ])('does not retry a streamed (%s) upload, which cannot be replayed, but drops the credentials', async (_what, fields, body) => {
    proxy = await startProxy({
      '/bucket': { ...billing(), target: `${upstream.url}/bucket`, service: 's3', ...fields },
    });
    expect((await proxy.http().get(`${P}/bucket/first`).set('authorization', USER)).status).toBe(200);
    revoke();
    const res = await proxy.http().put(`${P}/bucket/key`).set('authorization', USER).set('content-type', 'text/plain').send(body);
    expect(res.status).toBe(403);
    expect(res.text).toContain('ExpiredToken');
    expect(upstream.received).toHaveLength(2);
    // Dropped: the next request is signed with credentials assumed anew, and goes through.
    const next = await proxy.http().put(`${P}/bucket/key`).set('authorization', USER).set('content-type', 'text/plain').send(body);
    expect(next.status).toBe(200);
    expect(sts.assumeRoleCalls()).toHaveLength(2);
    expect(upstream.received.at(-1)!.headers['x-amz-security-token']).toBe(sts.issued[1].sessionToken);
  });
});

describe('when STS echoes what it was sent', () => {
  it('never shows the external id in the 503, the log or the route check', async () => {
    const logger = mockServices.logger.mock();
    sts.mode = 'echo';
    proxy = await startProxy({ '/billing': billing() }, {}, { logger: logger.factory });
    const res = await proxy.http().get(`${P}/billing/x`).set('authorization', USER);
    expect(res.status).toBe(503);
    // The echo reached the proxy (the message is passed on) with the secret replaced.
    expect(res.body.error.message).toContain("Value '[redacted]' at 'ExternalId'");
    const check = await proxy.http().get(`${P}/_routes`).set('authorization', USER);
    expect(check.body.routes[0].check).toMatchObject({ ok: false, code: 'ValidationError' });
    const logged = [...logger.warn.mock.calls, ...logger.error.mock.calls, ...logger.info.mock.calls, ...logger.debug.mock.calls]
      .map(c => JSON.stringify(c))
      .join('\n');
    for (const seen of [res.text, JSON.stringify(check.body), logged]) {
      expect(seen).not.toContain(EXTERNAL_ID);
      expect(seen).not.toContain(encodeURIComponent(EXTERNAL_ID));
    }
  });

  it('never shows the session token that the identity check signed with', async () => {
    proxy = await startProxy({ '/billing': billing() });
    expect((await proxy.http().get(`${P}/billing/first`).set('authorization', USER)).status).toBe(200);
    sts.mode = 'echo';
    const check = await proxy.http().get(`${P}/_routes`).set('authorization', USER);
    const [report] = check.body.routes;
    expect(report.check).toMatchObject({ ok: false, code: 'ValidationError' });
    expect(report.check.message).toContain('x-amz-security-token:[redacted]');
    expect(check.text).not.toContain(sts.issued[0].sessionToken);
    expect(check.text).not.toContain(EXTERNAL_ID);
  });
});

it('starts without waiting on STS, and stops cleanly while STS hangs', async () => {
  sts.mode = 'hang';
  // If the start waited for the credentials check, it would wait for the STS timeouts
  // (2 attempts of 10 s), past this test's time limit.
  proxy = await startProxy({ '/billing': billing(), checkCredentialsOnStart: true });
  const deadline = Date.now() + 3000;
  while (sts.calls.length === 0 && Date.now() < deadline) await sleep(50);
  expect(sts.calls.map(c => c.action)).toEqual(['AssumeRole']);
  await proxy.stop();
  proxy = undefined;
}, 8000);

it('checks each route at start in the background and logs the identity or the error once', async () => {
  const logger = mockServices.logger.mock();
  sts.deniedRoles.add('arn:aws:iam::444444444444:role/denied');
  proxy = await startProxy(
    {
      checkCredentialsOnStart: true,
      '/billing': billing(),
      '/main': { target: upstream.url, service: 'execute-api', region: 'eu-west-1', stsEndpoint: sts.url },
      '/denied': { ...billing(), roleArn: 'arn:aws:iam::444444444444:role/denied' },
    },
    {},
    { logger: logger.factory },
  );
  const messages = () => [...logger.info.mock.calls, ...logger.warn.mock.calls].map(c => String(c[0]));
  const deadline = Date.now() + 5000;
  while (messages().filter(m => /signs as|credentials check/.test(m)).length < 3 && Date.now() < deadline) {
    await sleep(50);
  }
  const checks = messages().filter(m => /signs as|credentials check/.test(m));
  expect(checks).toHaveLength(3);
  expect(checks).toEqual(
    expect.arrayContaining([
      'proxysigv4 route /billing signs as arn:aws:sts::210987654321:assumed-role/backstage-billing-read/backstage-billing',
      `proxysigv4 route /main signs as ${MAIN_ARN}`,
      `proxysigv4 route /denied: credentials check (sts:GetCallerIdentity at ${sts.url}) failed (AccessDenied): Could not assume role arn:aws:iam::444444444444:role/denied: AccessDenied: User is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444444444444:role/denied`,
    ]),
  );
});

it('reaches the regional STS endpoint of the right partition', () => {
  expect(stsEndpointFor({ region: 'eu-west-1' })).toBe('https://sts.eu-west-1.amazonaws.com');
  expect(stsEndpointFor({ region: 'cn-north-1' })).toBe('https://sts.cn-north-1.amazonaws.com.cn');
  expect(stsEndpointFor({ region: 'us-gov-west-1' })).toBe('https://sts.us-gov-west-1.amazonaws.com');
  expect(stsEndpointFor({ region: 'eu-west-1', endpoint: 'https://vpce-1.sts.eu-west-1.vpce.amazonaws.com' })).toBe(
    'https://vpce-1.sts.eu-west-1.vpce.amazonaws.com',
  );
});

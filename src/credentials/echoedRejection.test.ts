import { mockServices } from '@backstage/backend-test-utils';
import { AcceptedCredentials, startVerifyingUpstream, VerifyingUpstream, echoHandler, UpstreamHandler } from '../__testUtils__/verifyingUpstream';
import { LocalSts, startLocalSts } from '../__testUtils__/localSts';
import { RunningProxy, startProxy, TEST_CREDENTIALS, USER } from '../__testUtils__/startProxy';

const P = '/api/proxy-sigv4';
const ROLE = 'arn:aws:iam::210987654321:role/backstage-billing-read';
let accepted: AcceptedCredentials;
let upstream: VerifyingUpstream;
let sts: LocalSts;
let proxy: RunningProxy | undefined;

beforeEach(async () => {
  accepted = {};
  upstream = await startVerifyingUpstream(accepted);
  sts = await startLocalSts({
    sources: { [TEST_CREDENTIALS.accessKeyId]: { ...TEST_CREDENTIALS, arn: 'arn:aws:iam::111111111111:user/b' } },
    accepted,
  });
});
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
  await upstream.close();
  await sts.close();
});

const route = () => ({
  target: `${upstream.url}/prod`, service: 'dynamodb', region: 'eu-west-1',
  roleArn: ROLE, stsEndpoint: sts.url,
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
  proxy = await startProxy({ '/ddb': route() }, {}, { logger: logger.factory });
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
  proxy = await startProxy({ '/api': { ...route(), service: 'execute-api' } });
  const res = await proxy.http().post(`${P}/api/orders`).set('authorization', USER).send({ amount: 1 });
  expect(res.status).toBe(403);
  expect(upstream.received).toHaveLength(1);
});

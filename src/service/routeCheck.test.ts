/*
 * The route check (`/_routes`) through a real test backend, with routes whose credentials
 * come from the main account, an assumed role, a denied role and a credentials endpoint,
 * all answered by local servers on loopback.
 */
import http from 'node:http';
import { mockServices } from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { AddressInfo } from 'node:net';
import { AcceptedCredentials, LocalSts, startLocalSts } from '../../localAws';
import {
  RunningProxy,
  SERVICE,
  startProxy,
  TEST_CREDENTIALS,
  USER,
} from '../__testUtils__/startProxy';

const MAIN_ARN = 'arn:aws:iam::111111111111:user/backstage';
const EXTERNAL_ID = 'route-check-external-id';
const API_KEY = 'route-check-api-key';
const HELPER_SECRET = 'helper-secret-key';
const HELPER_TOKEN = 'helper-session-token';

let sts: LocalSts;
let helper: http.Server;
let helperUrl: string;
let proxy: RunningProxy;
let accepted: AcceptedCredentials;

beforeAll(async () => {
  accepted = {};
  sts = await startLocalSts({
    sources: {
      [TEST_CREDENTIALS.accessKeyId]: { ...TEST_CREDENTIALS, arn: MAIN_ARN },
      // What the credentials endpoint hands out is known to STS too.
      ASIAHELPER: {
        secretAccessKey: HELPER_SECRET,
        sessionToken: HELPER_TOKEN,
        arn: 'arn:aws:sts::111122223333:assumed-role/partner/helper',
      },
    },
    accepted,
  });
  sts.deniedRoles.add('arn:aws:iam::444444444444:role/denied');
  helper = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ accessKeyId: 'ASIAHELPER', secretAccessKey: HELPER_SECRET, sessionToken: HELPER_TOKEN }));
  });
  await new Promise<void>(r => helper.listen(0, '127.0.0.1', r));
  helperUrl = `http://127.0.0.1:${(helper.address() as AddressInfo).port}/credentials`;

  const api = { service: 'execute-api', region: 'eu-west-1', stsEndpoint: sts.url };
  proxy = await startProxy({
    allowUnauthenticatedRequests: true,
    '/': { target: 'https://abc.execute-api.eu-west-1.amazonaws.com/root', stsEndpoint: sts.url },
    '/billing': {
      target: 'https://abc.execute-api.us-east-1.amazonaws.com/prod',
      roleArn: 'arn:aws:iam::210987654321:role/backstage-billing-read',
      externalId: EXTERNAL_ID,
      roleSessionName: 'backstage-billing',
      stsEndpoint: sts.url,
      debug: true,
    },
    '/denied': {
      target: 'https://xyz.execute-api.eu-west-1.amazonaws.com/v1',
      roleArn: 'arn:aws:iam::444444444444:role/denied',
      stsEndpoint: sts.url,
    },
    '/partner': {
      target: 'https://xyz.execute-api.eu-west-1.amazonaws.com/v1',
      ...api,
      roleArn: 'arn:aws:iam::111122223333:role/partner',
      externalId: EXTERNAL_ID,
      credentialsEndpoint: { url: helperUrl, headers: { 'x-api-key': API_KEY } },
    },
  });
});

afterAll(async () => {
  await proxy.stop();
  await sts.close();
  helper.closeAllConnections();
  await new Promise(r => helper.close(r));
});

const CHECK = '/api/proxy-sigv4/_routes';

it('shows each route, where its credentials come from, and who it signs as', async () => {
  const res = await proxy.http().get(CHECK).set('authorization', USER);
  expect(res.status).toBe(200);
  expect(res.headers['cache-control']).toBe('no-store');
  const byRoute = Object.fromEntries(res.body.routes.map((r: { route: string }) => [r.route, r]));
  expect(Object.keys(byRoute).sort()).toEqual(['/', '/billing', '/denied', '/partner']);
  expect(byRoute['/']).toEqual({
    route: '/',
    target: { host: 'abc.execute-api.eu-west-1.amazonaws.com', basePath: '/root', service: 'execute-api', region: 'eu-west-1' },
    credentials: { source: 'main-account' },
    stsEndpoint: sts.url,
    check: { ok: true, arn: MAIN_ARN, account: '111111111111' },
    checkedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  });
  expect(byRoute['/billing']).toEqual({
    route: '/billing',
    target: { host: 'abc.execute-api.us-east-1.amazonaws.com', basePath: '/prod', service: 'execute-api', region: 'us-east-1' },
    credentials: {
      source: 'role',
      roleArn: 'arn:aws:iam::210987654321:role/backstage-billing-read',
      roleSessionName: 'backstage-billing',
      assumedWith: 'main-account',
      externalId: true,
    },
    stsEndpoint: sts.url,
    debug: true,
    check: {
      ok: true,
      arn: 'arn:aws:sts::210987654321:assumed-role/backstage-billing-read/backstage-billing',
      account: '210987654321',
    },
    checkedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  });
  expect(byRoute['/denied'].check).toEqual({
    ok: false,
    code: 'AccessDenied',
    message:
      'Could not assume role arn:aws:iam::444444444444:role/denied: AccessDenied: User is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444444444444:role/denied',
  });
  expect(byRoute['/partner']).toMatchObject({
    credentials: {
      source: 'credentials-endpoint',
      endpoint: new URL(helperUrl).origin,
      roleArn: 'arn:aws:iam::111122223333:role/partner',
    },
    check: { ok: true, arn: 'arn:aws:sts::111122223333:assumed-role/partner/helper' },
  });

  // Never a secret, an external id or a session token.
  const text = res.text;
  for (const secret of [
    EXTERNAL_ID,
    API_KEY,
    HELPER_SECRET,
    HELPER_TOKEN,
    TEST_CREDENTIALS.secretAccessKey,
    ...sts.issued.flatMap(i => [i.accessKeyId, i.sessionToken]),
  ]) {
    expect(text).not.toContain(secret);
  }
  expect(sts.issued.length).toBeGreaterThan(0);
});

it('checks one route when asked, and says so for an unknown one', async () => {
  const one = await proxy.http().get(`${CHECK}?route=/billing`).set('authorization', SERVICE);
  expect(one.status).toBe(200);
  expect(one.body.routes.map((r: { route: string }) => r.route)).toEqual(['/billing']);
  const unknown = await proxy.http().get(`${CHECK}?route=/nope`).set('authorization', USER);
  expect(unknown.status).toBe(404);
  expect(unknown.body.error.message).toBe('No proxysigv4 route is configured as /nope');
});

it('always requires Backstage credentials, even when every route is open', async () => {
  const before = sts.calls.length;
  const res = await proxy.http().get(CHECK);
  expect(res.status).toBe(401);
  // Refused before any credentials were used.
  expect(sts.calls.length).toBe(before);
});

it('answers GET only', async () => {
  const res = await proxy.http().post(CHECK).set('authorization', USER);
  expect(res.status).toBe(405);
  expect(res.headers.allow).toBe('GET');
});

it('reuses a live check for a while: polling the route check is not one STS call per route each time', async () => {
  const first = await proxy.http().get(`${CHECK}?route=/billing`).set('authorization', USER);
  const before = sts.calls.length;
  const again = await proxy.http().get(`${CHECK}?route=/billing`).set('authorization', USER);
  expect(again.status).toBe(200);
  expect(sts.calls.length).toBe(before);
  expect(again.body.routes[0].checkedAt).toBe(first.body.routes[0].checkedAt);
});

describe('behind the proxysigv4.routes.check permission', () => {
  const withPermissions = async (authorize: () => Promise<AuthorizeResult>) => {
    const permissions = mockServices.permissions.mock({
      authorize: async requests => {
        const result = await authorize();
        return requests.map(() => ({ result })) as any;
      },
    });
    return startProxy(
      { '/billing': { target: 'https://abc.execute-api.us-east-1.amazonaws.com/prod', stsEndpoint: sts.url } },
      {},
      { features: [permissions.factory] },
    );
  };

  it('answers 403, before any STS call, when the policy denies it', async () => {
    const denied = await withPermissions(async () => AuthorizeResult.DENY);
    try {
      const before = sts.calls.length;
      const res = await denied.http().get(CHECK).set('authorization', USER);
      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe('The permission proxysigv4.routes.check is not granted to the caller');
      expect(res.text).not.toContain('execute-api');
      expect(sts.calls.length).toBe(before);
    } finally {
      await denied.stop();
    }
  });

  it('answers 503 when the permission cannot be checked', async () => {
    const broken = await withPermissions(async () => {
      throw new Error('permission backend unreachable');
    });
    try {
      const res = await broken.http().get(CHECK).set('authorization', USER);
      expect(res.status).toBe(503);
    } finally {
      await broken.stop();
    }
  });
});

it('registers its permission, so that it is listed in the permission metadata for policy authors', async () => {
  const res = await proxy.http().get('/api/proxy-sigv4/.well-known/backstage/permissions/metadata').set('authorization', SERVICE);
  expect(res.status).toBe(200);
  expect(res.body.permissions).toEqual(
    expect.arrayContaining([
      { type: 'basic', name: 'proxysigv4.routes.check', attributes: { action: 'read' } },
    ]),
  );
});

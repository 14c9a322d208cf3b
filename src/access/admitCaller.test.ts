/*
 * Who may use a route, through a real Backstage test backend: Backstage tokens, the user
 * cookie on `credentials: user-cookie` routes only, and per-route permissions decided by the
 * real permission backend with a test policy. The upstream verifies every signature with aws4.
 */
import { createBackendModule } from '@backstage/backend-plugin-api';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import {
  AuthorizeResult,
  PolicyDecision,
} from '@backstage/plugin-permission-common';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';
import permissionBackend from '@backstage/plugin-permission-backend';
import { echoHandler, startVerifyingUpstream, VerifyingUpstream } from '../../localAws';
import {
  RunningProxy,
  SERVICE,
  startProxy,
  TEST_CREDENTIALS,
  USER,
} from '../__testUtils__/startProxy';
import { permissionAction } from './admitCaller';

const P = '/api/proxy-sigv4';
const api = { service: 'execute-api', region: 'eu-west-1' };
const s3 = { service: 's3', region: 'us-east-1' };
const ALICE = 'user:default/alice';
const BOB = 'user:default/bob';

let upstream: VerifyingUpstream;

beforeAll(async () => {
  upstream = await startVerifyingUpstream({
    [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS,
  });
});
afterAll(() => upstream.close());
beforeEach(() => {
  upstream.received.length = 0;
  upstream.handler = (req, res, received) => {
    res.setHeader('set-cookie', 'upstream-session=1');
    echoHandler(req, res, received);
  };
});

function reachedUpstream() {
  expect(upstream.received).toHaveLength(1);
  const [received] = upstream.received;
  expect(received.signatureError).toBeUndefined();
  return received;
}

describe('the user cookie', () => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startProxy({
      '/images': { target: `${upstream.url}/images`, ...s3, credentials: 'user-cookie' },
      '/images/private': { target: `${upstream.url}/private`, ...api },
      '/plain': { target: `${upstream.url}/plain`, ...api },
      '/a+b': { target: `${upstream.url}/ab`, ...s3, credentials: 'user-cookie' },
    });
  });
  afterAll(() => proxy.stop());

  const COOKIE = mockCredentials.limitedUser.cookie(ALICE);

  it.each(['GET', 'HEAD'])(
    'is accepted for %s on a user-cookie route, and neither it nor a Set-Cookie crosses the proxy',
    async method => {
      const res = await proxy
        .http()
        [method === 'GET' ? 'get' : 'head'](`${P}/images/cat.png`)
        .set('cookie', `${COOKIE}; other=1`)
        .set('x-forwarded-for', '10.1.2.3')
        .set('forwarded', 'for=10.1.2.3');
      expect(res.status).toBe(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      const received = reachedUpstream();
      expect(received.url).toBe('/images/cat.png');
      for (const name of ['cookie', 'x-forwarded-for', 'forwarded', 'x-forwarded-host']) {
        expect(received.headers[name]).toBeUndefined();
      }
      // The only Authorization upstream is the signature.
      expect(received.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 /);
    },
  );

  it('is refused for methods that change things: a token is needed, and nothing is sent', async () => {
    for (const method of ['put', 'post', 'delete', 'patch'] as const) {
      const res = await proxy.http()[method](`${P}/images/cat.png`).set('cookie', COOKIE).send('x');
      expect(res.status).toBe(401);
      expect(res.body.error.message).toContain('accepts the Backstage user cookie for GET and HEAD only');
    }
    expect(upstream.received).toHaveLength(0);
  });

  it('is never accepted by default, nor on a route nested under a user-cookie route', async () => {
    for (const path of ['/plain/x', '/images/private/x']) {
      const res = await proxy.http().get(`${P}${path}`).set('cookie', COOKIE);
      expect(res.status).toBe(401);
    }
    expect(upstream.received).toHaveLength(0);
  });

  it('is refused when invalid', async () => {
    const res = await proxy
      .http()
      .get(`${P}/images/cat.png`)
      .set('cookie', mockCredentials.limitedUser.invalidCookie());
    expect(res.status).toBe(401);
    expect(upstream.received).toHaveLength(0);
  });

  it('does not replace tokens: user and service tokens work on a user-cookie route for every method', async () => {
    for (const auth of [USER, SERVICE]) {
      const res = await proxy.http().put(`${P}/images/cat.png`).set('authorization', auth).send('x');
      expect(res.status).toBe(200);
    }
    expect(upstream.received).toHaveLength(2);
    expect(upstream.received.map(r => r.headers.authorization)).not.toContain(USER);
  });

  it('is issued by the plugin to a signed-in user, as the frontend asks for it', async () => {
    const res = await proxy.http().get(`${P}/.backstage/auth/v1/cookie`).set('authorization', USER);
    expect(res.status).toBe(200);
    const issued = String(res.headers['set-cookie']).split(';')[0];
    expect(issued).toMatch(/^backstage-auth=./);
    const image = await proxy.http().get(`${P}/images/cat.png`).set('cookie', issued);
    expect(image.status).toBe(200);
    expect(upstream.received).toHaveLength(1);
  });

  it("sandboxes what it serves: an HTML object opened by a link runs no script in the backend's origin", async () => {
    upstream.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<script>fetch("/api/catalog/entities")</script>');
    };
    const res = await proxy.http().get(`${P}/images/page.html`).set('cookie', COOKIE);
    expect(res.status).toBe(200);
    expect(res.headers['content-security-policy']).toBe('sandbox');
  });

  it('works on a route key with characters that are special to path patterns', async () => {
    const res = await proxy.http().get(`${P}/a+b/x`).set('cookie', COOKIE);
    expect(res.status).toBe(200);
    expect(reachedUpstream().url).toBe('/ab/x');
  });
});

describe('permissions', () => {
  let proxy: RunningProxy;
  const decisions: { name: string; action?: string; user?: string; result: AuthorizeResult }[] = [];

  /** The operator's policy: alice may use reports; bob may read the bucket but not write it. */
  const testPolicy = createBackendModule({
    pluginId: 'permission',
    moduleId: 'test-policy',
    register(reg) {
      reg.registerInit({
        deps: { policy: policyExtensionPoint },
        async init({ policy }) {
          policy.setPolicy({
            async handle(request, user): Promise<PolicyDecision> {
              const who = user?.info.userEntityRef;
              const action = request.permission.attributes.action;
              let result: AuthorizeResult.ALLOW | AuthorizeResult.DENY = AuthorizeResult.DENY;
              if (request.permission.name === 'proxy-sigv4.reports.use' && who === ALICE) {
                result = AuthorizeResult.ALLOW;
              }
              if (request.permission.name === 'proxy-sigv4.bucket' && who === BOB && action === 'read') {
                result = AuthorizeResult.ALLOW;
              }
              decisions.push({ name: request.permission.name, action, user: who, result });
              return { result };
            },
          });
        },
      });
    },
  });

  beforeAll(async () => {
    proxy = await startProxy(
      {
        '/reports': { target: `${upstream.url}/reports`, ...api, permission: 'proxy-sigv4.reports.use' },
        '/bucket': {
          target: `${upstream.url}/bucket`,
          service: 's3',
          region: 'us-east-1',
          permission: 'proxy-sigv4.bucket',
          credentials: 'user-cookie',
        },
        '/free': { target: `${upstream.url}/free`, ...api },
      },
      { permission: { enabled: true } },
      {
        features: [
          permissionBackend,
          testPolicy,
        ],
      },
    );
  });
  afterAll(() => proxy.stop());
  beforeEach(() => {
    decisions.length = 0;
  });

  const userToken = (ref: string) => `Bearer ${mockCredentials.user.token(ref)}`;

  it('lets a user through when the policy allows, with the route permission and the method as action', async () => {
    const res = await proxy.http().get(`${P}/reports/q1`).set('authorization', userToken(ALICE));
    expect(res.status).toBe(200);
    expect(reachedUpstream().url).toBe('/reports/q1');
    expect(decisions).toEqual([
      { name: 'proxy-sigv4.reports.use', action: 'read', user: ALICE, result: AuthorizeResult.ALLOW },
    ]);
  });

  it('answers 403 when the policy denies, and sends nothing', async () => {
    const res = await proxy.http().get(`${P}/reports/q1`).set('authorization', userToken(BOB));
    expect(res.status).toBe(403);
    expect(res.body.error.message).toBe(
      'The permission proxy-sigv4.reports.use (action read) is not granted to the caller',
    );
    expect(upstream.received).toHaveLength(0);
  });

  it('tells reads from writes by the action attribute', async () => {
    const read = await proxy.http().get(`${P}/bucket/k`).set('authorization', userToken(BOB));
    expect(read.status).toBe(200);
    const write = await proxy.http().put(`${P}/bucket/k`).set('authorization', userToken(BOB)).send('x');
    expect(write.status).toBe(403);
    expect(decisions.map(d => [d.action, d.result])).toEqual([
      ['read', AuthorizeResult.ALLOW],
      ['update', AuthorizeResult.DENY],
    ]);
    expect(upstream.received).toHaveLength(1);
  });

  it('checks a cookie caller as the user the cookie belongs to', async () => {
    const bob = await proxy.http().get(`${P}/bucket/k`).set('cookie', mockCredentials.limitedUser.cookie(BOB));
    expect(bob.status).toBe(200);
    const alice = await proxy.http().get(`${P}/bucket/k`).set('cookie', mockCredentials.limitedUser.cookie(ALICE));
    expect(alice.status).toBe(403);
    expect(decisions.map(d => d.user)).toEqual([BOB, ALICE]);
  });

  it('lets an unrestricted service token through without asking the policy, as Backstage does', async () => {
    const res = await proxy.http().get(`${P}/reports/q1`).set('authorization', SERVICE);
    expect(res.status).toBe(200);
    expect(decisions).toEqual([]);
  });

  it('asks nothing on a route without a permission', async () => {
    const res = await proxy.http().get(`${P}/free/x`).set('authorization', userToken(BOB));
    expect(res.status).toBe(200);
    expect(decisions).toEqual([]);
  });

  it('still answers 401 before any permission check for a caller without credentials', async () => {
    const res = await proxy.http().get(`${P}/reports/q1`);
    expect(res.status).toBe(401);
    expect(decisions).toEqual([]);
    expect(upstream.received).toHaveLength(0);
  });
});

it('answers 503, and sends nothing, when the permission cannot be checked', async () => {
  const permissions = mockServices.permissions.mock({
    authorize: async () => {
      throw new Error('permission backend unreachable');
    },
  });
  const proxy = await startProxy(
    { '/reports': { target: `${upstream.url}/reports`, ...api, permission: 'proxy-sigv4.reports.use' } },
    {},
    { features: [permissions.factory] },
  );
  try {
    const res = await proxy.http().get(`${P}/reports/q1`).set('authorization', USER);
    expect(res.status).toBe(503);
    expect(res.body.error.message).toBe(
      'Could not check the permission proxy-sigv4.reports.use: permission backend unreachable',
    );
    expect(upstream.received).toHaveLength(0);
  } finally {
    await proxy.stop();
  }
});

it('maps methods to permission actions by their HTTP meaning', () => {
  expect(
    ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'].map(permissionAction),
  ).toEqual(['read', 'read', 'read', 'create', 'update', 'update', 'delete']);
});

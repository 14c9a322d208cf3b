/*
 * The package's public API, as someone embedding the router in a plugin of their own uses
 * it: only what index.ts exports, wired as docs/calling-from-plugins.md's "Embedding the router" shows.
 */
import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import request from 'supertest';
import { startVerifyingUpstream, VerifyingUpstream } from '../localAws';
import { TEST_CREDENTIALS } from './__testUtils__/startProxy';
import proxySigV4Plugin, {
  BaseCredentialSource,
  CredentialsEndpointSource,
  CredentialSourceConfig,
  createRouter,
  ProxyRouter,
  RouteConfig,
  RouterOptions,
  StsTarget,
} from '.';

let upstream: VerifyingUpstream;
beforeAll(async () => {
  upstream = await startVerifyingUpstream({ [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS });
});
afterAll(() => upstream.close());

it('exports the plugin as the default, for backend.add(import(...))', () => {
  expect(proxySigV4Plugin.$$type).toBe('@backstage/BackendFeature');
});

it('serves the routes from a plugin of the embedder, and releases connections on stop', async () => {
  let embedded: ProxyRouter | undefined;
  const seen: RouteConfig[] = [];
  const awsPlugin = createBackendPlugin({
    pluginId: 'my-aws',
    register(env) {
      env.registerInit({
        deps: {
          config: coreServices.rootConfig,
          logger: coreServices.logger,
          httpAuth: coreServices.httpAuth,
          httpRouter: coreServices.httpRouter,
          lifecycle: coreServices.lifecycle,
        },
        async init({ config, logger, httpAuth, httpRouter, lifecycle }) {
          const options: RouterOptions = { config, logger, httpAuth };
          embedded = createRouter(options);
          seen.push(...embedded.routes);
          httpRouter.use(embedded.router);
          lifecycle.addStartupHook(() => void embedded!.checkCredentials());
          lifecycle.addShutdownHook(() => embedded!.close());
        },
      });
    },
  });
  const backend = await startTestBackend({
    features: [
      awsPlugin,
      mockServices.rootConfig.factory({
        data: {
          aws: { mainAccount: TEST_CREDENTIALS },
          proxysigv4: {
            checkCredentialsOnStart: false,
            '/api': { target: `${upstream.url}/prod`, service: 'execute-api', region: 'eu-west-1' },
          },
        },
      }),
      mockServices.httpAuth.factory({ defaultCredentials: mockCredentials.none() }),
    ],
  });
  try {
    expect(seen.map(r => [r.route, r.service, r.region, r.credentialsPolicy])).toEqual([
      ['/api', 'execute-api', 'eu-west-1', 'require'],
    ]);
    // The types RouteConfig refers to are exported too, for code that reads routes.
    const source: CredentialSourceConfig = seen[0].credentialSource;
    const base: BaseCredentialSource = { kind: 'main' };
    const sts: StsTarget = seen[0].sts;
    const endpoint: CredentialsEndpointSource | undefined =
      source.kind === 'endpoint' ? source : undefined;
    expect([source, sts.region, endpoint]).toEqual([base, 'eu-west-1', undefined]);
    const ok = await request(backend.server)
      .get('/api/my-aws/api/items?x=1')
      .set('Authorization', mockCredentials.service.header());
    expect(ok.status).toBe(200);
    const received = upstream.received[upstream.received.length - 1];
    expect(received.url).toBe('/prod/items?x=1');
    expect(received.signatureError).toBeUndefined();

    const anonymous = await request(backend.server).get('/api/my-aws/api/items');
    expect(anonymous.status).toBe(401);
    expect(upstream.received[upstream.received.length - 1]).toBe(received);
  } finally {
    await backend.stop();
  }
  // The route's keep-alive connection is closed by close(), not left to time out.
  const server = upstream.server;
  const connections = () =>
    new Promise<number>((resolve, reject) =>
      server.getConnections((e, n) => (e ? reject(e) : resolve(n))),
    );
  const deadline = Date.now() + 2000;
  let open = await connections();
  while (open > 0 && Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 20));
    open = await connections();
  }
  expect(open).toBe(0);
});

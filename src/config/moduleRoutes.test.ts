/*
 * Routes from code: backend modules of the plugin add routes through the extension point
 * (imported from the package's entry point, as a module would), in a real test backend,
 * against a verifying upstream; merged with app-config at start and at every reload.
 */
import { createBackendModule } from '@backstage/backend-plugin-api';
import { mockServices } from '@backstage/backend-test-utils';
import { JsonValue } from '@backstage/types';
import { startVerifyingUpstream, VerifyingUpstream } from '../../localAws';
import { proxySigV4RoutesExtensionPoint, ProxySigV4RoutesExtensionPoint } from '..';
import {
  LiveConfig,
  proxyConfigData,
  RunningProxy,
  startProxy,
  TEST_CREDENTIALS,
  USER,
} from '../__testUtils__/startProxy';
import { capturingLogger } from '../__testUtils__/capturingLogger';

const P = '/api/proxy-sigv4';
const api = { service: 'execute-api', region: 'eu-west-1' };
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

let upstream: VerifyingUpstream;
let proxy: RunningProxy | undefined;
let live: LiveConfig;
let logs: ReturnType<typeof capturingLogger>;

beforeEach(async () => {
  upstream = await startVerifyingUpstream({ [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS });
  live = mockServices.rootConfig();
  logs = capturingLogger();
});
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
  await upstream.close();
});

/** A backend module of proxy-sigv4 that adds these routes; `kept` receives its extension point. */
function routesModule(
  moduleId: string,
  routes: () => Record<string, JsonValue>,
  kept?: { point?: ProxySigV4RoutesExtensionPoint },
) {
  return createBackendModule({
    pluginId: 'proxy-sigv4',
    moduleId,
    register(env) {
      env.registerInit({
        deps: { proxyRoutes: proxySigV4RoutesExtensionPoint },
        async init({ proxyRoutes }) {
          proxyRoutes.addRoutes(routes());
          if (kept) kept.point = proxyRoutes;
        },
      });
    },
  });
}

const start = (configured: Record<string, JsonValue>, modules: unknown[]) =>
  startProxy(configured as any, {}, { logger: logs.factory, rootConfig: live, features: modules as any[] });

it('serves the routes a module adds beside the configured ones, signed like them', async () => {
  proxy = await start({ '/configured': { target: `${upstream.url}/c`, ...api } }, [
    routesModule('billing', () => ({
      '/from-code': { target: `${upstream.url}/code`, ...api },
      '/more': { target: `${upstream.url}/more/path`, ...api },
    })),
  ]);
  for (const [path, arrived] of [
    ['/configured/x', '/c/x'],
    ['/from-code/x', '/code/x'],
    ['/more/y', '/more/path/y'],
  ]) {
    const res = await proxy.http().get(`${P}${path}`).set('authorization', USER);
    expect([path, res.status]).toEqual([path, 200]);
    expect(upstream.received.at(-1)).toMatchObject({ url: arrived, signatureError: undefined });
  }
  // Same rules as configured routes: credentials required.
  expect((await proxy.http().get(`${P}/from-code/x`)).status).toBe(401);
});

it.each<[string, Record<string, JsonValue>, (url: string) => Record<string, JsonValue>[], RegExp]>([
  [
    'a key app-config has too',
    { '/dup': 'https://abc123.execute-api.eu-west-1.amazonaws.com' },
    url => [{ '/dup': `${url}/d` }],
    /proxysigv4 route '\/dup' is both in app-config and added by a backend module; remove one of them/,
  ],
  [
    'a key two modules add',
    {},
    url => [{ '/twice': { target: `${url}/a`, ...api } }, { '/twice': { target: `${url}/b`, ...api } }],
    /Module 'm1' for plugin 'proxy-sigv4' startup failed; caused by Error: proxysigv4 route '\/twice' is added by two backend modules/,
  ],
  [
    'an invalid route, named as the module\'s',
    {},
    url => [{ '/bad': { target: `${url}/b`, service: 'execute-api', region: 'nowhere' } }],
    /proxysigv4 route '\/bad' \(added by a backend module\)\.region: 'nowhere' is not a valid AWS region/,
  ],
  [
    'a key that is not a route',
    {},
    url => [{ allowUnauthenticatedRequests: true, '/x': `${url}/x` }],
    /proxysigv4 route 'allowUnauthenticatedRequests' \(added by a backend module\): route keys must begin with '\/'/,
  ],
])('refuses to start with %s', async (_, configured, added, message) => {
  const modules = added(upstream.url).map((routes, i) => routesModule(`m${i}`, () => routes));
  await expect(start(configured, modules)).rejects.toThrow(message);
});

it('keeps the modules\' routes through reloads of app-config, and refuses a configured key that a module has', async () => {
  proxy = await start({ '/configured': { target: `${upstream.url}/c`, ...api } }, [
    routesModule('code', () => ({ '/from-code': { target: `${upstream.url}/code`, ...api } })),
  ]);
  const status = async (path: string) =>
    (await proxy!.http().get(`${P}${path}/x`).set('authorization', USER)).status;
  const reloaded = async (from: number) => {
    for (let i = 0; i < 500; i++) {
      const line = logs.entries.slice(from).find(e => e.message.startsWith('proxysigv4: routes reloaded') || e.message.includes('configuration is invalid'));
      if (line) return line.message;
      await sleep(10);
    }
    throw new Error('no reload logged');
  };

  let from = logs.entries.length;
  live.update({ data: proxyConfigData({ '/other': { target: `${upstream.url}/o`, ...api } }) });
  expect(await reloaded(from)).toBe('proxysigv4: routes reloaded: added /other; removed /configured');
  expect([await status('/from-code'), await status('/other'), await status('/configured')]).toEqual([200, 200, 404]);

  from = logs.entries.length;
  live.update({ data: proxyConfigData({ '/from-code': { target: `${upstream.url}/mine`, ...api } }) });
  expect(await reloaded(from)).toMatch(
    /the routes stay as they were: proxysigv4 route '\/from-code' is both in app-config and added by a backend module/,
  );
  expect([await status('/from-code'), await status('/other')]).toEqual([200, 200]);
  expect(upstream.received.at(-2)?.url).toBe('/code/x');
});

it('refuses routes added after the backend started', async () => {
  const kept: { point?: ProxySigV4RoutesExtensionPoint } = {};
  proxy = await start({}, [routesModule('late', () => ({}), kept)]);
  expect(() => kept.point!.addRoutes({ '/late': `${upstream.url}/late` })).toThrow(
    'proxysigv4 routes can only be added while the backend starts, from a module init',
  );
  expect((await proxy.http().get(`${P}/late/x`).set('authorization', USER)).status).toBe(404);
});

it("is not opened by the section's allowUnauthenticatedRequests: a module's route is open only if it says so", async () => {
  proxy = await start({ allowUnauthenticatedRequests: true, '/configured': { target: `${upstream.url}/c`, ...api } }, [
    routesModule('code', () => ({
      '/closed': { target: `${upstream.url}/closed`, ...api },
      '/open': { target: `${upstream.url}/open`, ...api, credentials: 'dangerously-allow-unauthenticated' },
    })),
  ]);
  const anonymous = async (path: string) => (await proxy!.http().get(`${P}${path}/x`)).status;
  expect([await anonymous('/configured'), await anonymous('/closed'), await anonymous('/open')]).toEqual([200, 401, 200]);
});

it('takes all of one call or none of it, and a copy of what it was given', async () => {
  const routes: Record<string, JsonValue> = { '/first': { target: `${upstream.url}/first`, ...api } };
  await expect(
    start({}, [
      routesModule('one', () => ({ '/taken': { target: `${upstream.url}/t`, ...api } })),
      routesModule('two', () => ({ '/fine': { target: `${upstream.url}/f`, ...api }, '/taken': `${upstream.url}/x` })),
    ]),
  ).rejects.toThrow(/Module 'two' for plugin 'proxy-sigv4' startup failed; caused by Error: proxysigv4 route '\/taken' is added by two/);
  proxy = await start({}, [
    routesModule('copy', () => {
      setTimeout(() => ((routes['/first'] as any).target = 'https://elsewhere.example'));
      return routes;
    }),
  ]);
  await sleep(20);
  expect((await proxy.http().get(`${P}/first/x`).set('authorization', USER)).status).toBe(200);
});

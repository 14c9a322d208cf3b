/*
 * Starts a real Backstage test backend with the plugin and the given configuration.
 * Anonymous requests are anonymous (not the mock user), as in a real backend.
 */
import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import request from 'supertest';
import { JsonObject } from '@backstage/types';
import {
  coreServices,
  createServiceFactory,
  LoggerService,
  ServiceFactory,
} from '@backstage/backend-plugin-api';
import { proxySigV4Plugin } from '../plugin';

export const TEST_CREDENTIALS = {
  accessKeyId: 'AKIDTESTPROXY',
  secretAccessKey: 'proxy-test-secret-key/with+chars',
};

export interface RunningProxy {
  server: import('node:http').Server;
  baseUrl: string;
  /** supertest bound to the backend. */
  http: () => ReturnType<typeof request>;
  stop(): Promise<void>;
}

/** A root config that a test can change while the backend runs (`update`), as a file edit would. */
export type LiveConfig = ReturnType<typeof mockServices.rootConfig>;

/**
 * The app-config the test backend runs with: the main account's test credentials, `extraConfig`,
 * and these `proxysigv4` routes with the start-up credentials check off unless they turn it on.
 * Give it to a {@link LiveConfig}'s `update` to change the configuration of a running backend.
 */
export function proxyConfigData(proxysigv4: JsonObject, extraConfig: JsonObject = {}): JsonObject {
  return {
    aws: { mainAccount: TEST_CREDENTIALS },
    ...extraConfig,
    proxysigv4: { checkCredentialsOnStart: false, ...proxysigv4 },
  };
}

/**
 * Starts the plugin with these `proxysigv4` routes. The start-up credentials check is off
 * unless the routes turn it on: it would call the real STS, and tests stay on loopback.
 */
export async function startProxy(
  proxysigv4: JsonObject,
  extraConfig: JsonObject = {},
  options: {
    logger?: ServiceFactory<LoggerService, any, any>;
    /** More plugins, modules or service factories for the backend. */
    features?: Parameters<typeof startTestBackend>[0]['features'];
    /**
     * The backend's root config, for a test that changes it while the backend runs: it is set
     * to the configuration above ({@link proxyConfigData}) before the backend starts, and the
     * backend reads it live, so that the test's later `update` calls reach the plugin's
     * `config.subscribe`. Without it, the configuration is fixed.
     */
    rootConfig?: LiveConfig;
  } = {},
): Promise<RunningProxy> {
  const backend = await startTestBackend({
    features: [
      proxySigV4Plugin,
      rootConfigFactory(proxyConfigData(proxysigv4, extraConfig), options.rootConfig),
      ...(options.logger ? [options.logger] : []),
      ...(options.features ?? []),
      mockServices.httpAuth.factory({
        defaultCredentials: mockCredentials.none(),
      }),
    ],
  });
  const address = backend.server.address() as import('node:net').AddressInfo;
  return {
    server: backend.server as unknown as import('node:http').Server,
    baseUrl: `http://127.0.0.1:${address.port}`,
    http: () => request(backend.server),
    stop: () => backend.stop(),
  };
}

/** The fixed root config with `data`, or `live` set to `data` (mockServices' factory makes its own instance). */
function rootConfigFactory(data: JsonObject, live: LiveConfig | undefined) {
  if (!live) return mockServices.rootConfig.factory({ data });
  live.update({ data });
  return createServiceFactory({
    service: coreServices.rootConfig,
    deps: {},
    factory: () => live,
  });
}

/** The Authorization header of a mock Backstage user. */
export const USER = mockCredentials.user.header();
/** The Authorization header of a mock Backstage service. */
export const SERVICE = mockCredentials.service.header();

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
import { LoggerService, ServiceFactory } from '@backstage/backend-plugin-api';
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
  } = {},
): Promise<RunningProxy> {
  const backend = await startTestBackend({
    features: [
      proxySigV4Plugin,
      mockServices.rootConfig.factory({
        data: {
          aws: { mainAccount: TEST_CREDENTIALS },
          ...extraConfig,
          proxysigv4: { checkCredentialsOnStart: false, ...proxysigv4 },
        },
      }),
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

/** The Authorization header of a mock Backstage user. */
export const USER = mockCredentials.user.header();
/** The Authorization header of a mock Backstage service. */
export const SERVICE = mockCredentials.service.header();

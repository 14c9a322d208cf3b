import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { createRouter } from './service/router';

/**
 * The SigV4 proxy plugin: `proxysigv4` routes, served under `/api/proxy-sigv4`.
 *
 * @public
 */
export const proxySigV4Plugin = createBackendPlugin({
  pluginId: 'proxy-sigv4',
  register(env) {
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        lifecycle: coreServices.lifecycle,
      },
      async init({ config, logger, httpRouter, httpAuth, lifecycle }) {
        const proxy = createRouter({ config, logger, httpAuth });
        for (const route of proxy.routes) {
          const open = route.credentialsPolicy === 'dangerously-allow-unauthenticated';
          if (open) {
            // The router checks credentials itself on every other route; this policy only
            // lets anonymous requests reach the router for the routes that opted out.
            httpRouter.addAuthPolicy({ path: route.route || '/', allow: 'unauthenticated' });
            logger.warn(
              `proxysigv4 route ${route.route || '/'} accepts requests without Backstage credentials: anyone who can reach this backend can use its AWS credentials`,
            );
          }
          logger.info(
            `proxysigv4 route ${route.route || '/'} -> ${route.target} (service ${route.service}, region ${route.region}${open ? ', unauthenticated' : ''})`,
          );
        }
        httpRouter.use(proxy.router);
        // In the background: the backend's start never waits on STS.
        lifecycle.addStartupHook(() => {
          void proxy.checkCredentials();
        });
        lifecycle.addShutdownHook(() => proxy.close());
      },
    });
  },
});

import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { createRouter } from './service/router';
import { routePermission } from './access/admitCaller';
import { routeCheckPermission } from './access/routeCheckPermission';
import { RouteConfig } from './config/types';
import { routeAnnouncer } from './service/announceRoutes';
import { ModuleRoutes, proxySigV4RoutesExtensionPoint } from './config/moduleRoutes';

/**
 * The SigV4 proxy plugin: `proxysigv4` routes, served under `/api/proxy-sigv4`.
 *
 * @public
 */
export const proxySigV4Plugin = createBackendPlugin({
  pluginId: 'proxy-sigv4',
  register(env) {
    const moduleRoutes = new ModuleRoutes();
    env.registerExtensionPoint(proxySigV4RoutesExtensionPoint, moduleRoutes.extensionPoint());
    env.registerInit({
      deps: {
        config: coreServices.rootConfig,
        logger: coreServices.logger,
        httpRouter: coreServices.httpRouter,
        httpAuth: coreServices.httpAuth,
        lifecycle: coreServices.lifecycle,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
        auditor: coreServices.auditor,
        userInfo: coreServices.userInfo,
      },
      async init({
        config,
        logger,
        httpRouter,
        httpAuth,
        lifecycle,
        permissions,
        permissionsRegistry,
        auditor,
        userInfo,
      }) {
        let announce: (routes: RouteConfig[]) => void = () => {};
        const proxy = createRouter({
          config,
          logger,
          httpAuth,
          permissions,
          auditor,
          userInfo,
          moduleRoutes: moduleRoutes.take(),
          onRoutesChanged: change => announce([...change.added, ...change.changed]),
        });
        const named = new Set(proxy.routes.flatMap(r => (r.permission ? [r.permission] : [])));
        // Listed in the permission framework's metadata, for policy authors and tools. Only
        // possible during init: a name a reload brings is checked, but not listed.
        permissionsRegistry.addPermissions([
          routeCheckPermission,
          ...[...named].map(routePermission),
        ]);
        announce = routeAnnouncer({ logger, httpRouter, registeredPermissions: named });
        announce(proxy.routes);
        httpRouter.use(proxy.router);
        // In the background: the backend's start never waits on STS.
        lifecycle.addStartupHook(() => {
          void proxy.checkCredentials();
          // From now on the routes follow app-config (Backstage watches its config files).
          proxy.watch();
        });
        lifecycle.addShutdownHook(() => proxy.close());
      },
    });
  },
});

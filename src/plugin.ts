import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { createRouter } from './service/router';
import { routePermission } from './access/admitCaller';
import { routeCheckPermission } from './access/routeCheckPermission';
import { OPERATION_PROTOCOL_SERVICES } from './access/operations';
import { RouteConfig } from './config/types';
import { perCallerSource } from './service/routeRuntime';

/** How a route's start-up line says it makes a session per caller. */
function perCallerNote(route: RouteConfig): string | undefined {
  const perCaller = perCallerSource(route)?.sessionPerCaller;
  if (!perCaller) return undefined;
  const { sourceIdentity, sessionTags, transitiveTags } = perCaller;
  const parts = [
    sourceIdentity && 'SourceIdentity',
    sessionTags && (transitiveTags ? 'transitive session tags' : 'session tags'),
  ].filter(Boolean);
  return `a session per caller${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/**
 * The path of a route as an auth policy path. Backstage reads policy paths as path-to-regexp
 * patterns, in which `:`, `*`, `(`, `+` and others are syntax; a route key means itself.
 */
function policyPath(route: string): string {
  return (route || '/').replace(/[:*?+!()[\]{}\\]/g, '\\$&');
}

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
        const proxy = createRouter({ config, logger, httpAuth, permissions, auditor, userInfo });
        const named = proxy.routes.flatMap(r => (r.permission ? [r.permission] : []));
        // Listed in the permission framework's metadata, for policy authors and tools.
        permissionsRegistry.addPermissions([
          routeCheckPermission,
          ...[...new Set(named)].map(routePermission),
        ]);
        for (const route of proxy.routes) {
          const open = route.credentialsPolicy === 'dangerously-allow-unauthenticated';
          if (open) {
            // The router checks credentials itself on every other route; this policy only
            // lets anonymous requests reach the router for the routes that opted out.
            httpRouter.addAuthPolicy({ path: policyPath(route.route), allow: 'unauthenticated' });
            logger.warn(
              `proxysigv4 route ${route.route || '/'} accepts requests without Backstage credentials: anyone who can reach this backend can use its AWS credentials`,
            );
          }
          if (route.dangerouslyAllowHttp) {
            logger.warn(
              `proxysigv4 route ${route.route || '/'} sends signed requests over plain http to ${route.hostname}: the session token, bodies and answers cross the network in clear (dangerouslyAllowHttp)`,
            );
          }
          if (
            route.permission &&
            !route.allowedOperations &&
            OPERATION_PROTOCOL_SERVICES.has(route.service)
          ) {
            logger.warn(
              `proxysigv4 route ${route.route || '/'} checks permission ${route.permission} by HTTP method, but ${route.service} names the operation in the request (Action, X-Amz-Target): GET /?Action=Delete... is checked as read and every JSON-protocol call as create. Set allowedOperations to check the operation`,
            );
          }
          if (route.credentialsPolicy === 'user-cookie') {
            // Lets the Backstage user cookie through to the router, which accepts it for
            // GET and HEAD only.
            httpRouter.addAuthPolicy({ path: policyPath(route.route), allow: 'user-cookie' });
          }
          const notes = [
            open && 'unauthenticated',
            route.credentialsPolicy === 'user-cookie' && 'user cookie accepted for GET and HEAD',
            route.permission && `permission ${route.permission}`,
            route.allowedOperations && `operations ${route.allowedOperations.join(' ')}`,
            perCallerNote(route),
          ].filter(Boolean);
          logger.info(
            `proxysigv4 route ${route.route || '/'} -> ${route.target} (service ${route.service}, region ${route.region}${notes.map(n => `, ${n}`).join('')})`,
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

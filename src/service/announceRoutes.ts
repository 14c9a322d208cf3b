import { HttpRouterService, LoggerService } from '@backstage/backend-plugin-api';
import { PRESIGN_PATH, RouteConfig } from '../config/types';
import { OPERATION_PROTOCOL_SERVICES } from '../access/operations';
import { perCallerSource } from './routeRuntime';

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
 * Announces routes as they come into force, at start and after each reload: one log line
 * each (with warnings for what an operator must know), and the auth policies that let
 * requests the router accepts reach it.
 *
 * Backstage cannot take an auth policy back. That is safe here because the router decides
 * every request itself (admitCaller.ts): a policy only lets a request through Backstage's
 * own check to the router, which requires credentials on every route that is not open, and
 * the cookie only for GET and HEAD on cookie routes. So a route that a reload closes answers
 * 401 to the requests its old policy still lets through.
 */
export function routeAnnouncer(options: {
  logger: LoggerService;
  httpRouter: Pick<HttpRouterService, 'addAuthPolicy'>;
  /** Permission names registered at start; others cannot be listed until a restart. */
  registeredPermissions: ReadonlySet<string>;
}): (routes: RouteConfig[]) => void {
  const { logger, httpRouter, registeredPermissions } = options;
  const policies = new Set<string>();
  const allow = (path: string, kind: 'unauthenticated' | 'user-cookie') => {
    const key = `${kind} ${path}`;
    if (policies.has(key)) return;
    policies.add(key);
    httpRouter.addAuthPolicy({ path, allow: kind });
  };
  return routes => {
    for (const route of routes) {
      const name = route.route || '/';
      const open = route.credentialsPolicy === 'dangerously-allow-unauthenticated';
      if (open) {
        // The router checks credentials itself on every other route; this policy only
        // lets anonymous requests reach the router for the routes that opted out.
        allow(policyPath(route.route), 'unauthenticated');
        logger.warn(
          `proxysigv4 route ${name} accepts requests without Backstage credentials: anyone who can reach this backend can use its AWS credentials`,
        );
      }
      if (route.dangerouslyAllowHttp) {
        logger.warn(
          `proxysigv4 route ${name} sends signed requests over plain http to ${route.hostname}: the session token, bodies and answers cross the network in clear (dangerouslyAllowHttp)`,
        );
      }
      if (route.permission && !route.allowedOperations && OPERATION_PROTOCOL_SERVICES.has(route.service)) {
        logger.warn(
          `proxysigv4 route ${name} checks permission ${route.permission} by HTTP method, but ${route.service} names the operation in the request (Action, X-Amz-Target): GET /?Action=Delete... is checked as read and every JSON-protocol call as create. Set allowedOperations to check the operation`,
        );
      }
      if (route.permission && !registeredPermissions.has(route.permission)) {
        logger.warn(
          `proxysigv4 route ${name} checks permission ${route.permission}, which is checked from now on but not listed in the plugin's permission metadata until the backend restarts (Backstage lists permissions registered at start only)`,
        );
      }
      if (route.credentialsPolicy === 'user-cookie') {
        // Lets the Backstage user cookie through to the router, which accepts it for
        // GET and HEAD only.
        allow(policyPath(route.route), 'user-cookie');
        // And to the presign redirect for the route (GET /_presign/<route>/...).
        if (route.presign) allow(policyPath(`${PRESIGN_PATH}${route.route}`), 'user-cookie');
      }
      const notes = [
        open && 'unauthenticated',
        route.credentialsPolicy === 'user-cookie' && 'user cookie accepted for GET and HEAD',
        route.permission && `permission ${route.permission}`,
        route.allowedOperations && `operations ${route.allowedOperations.join(' ')}`,
        perCallerNote(route),
        route.presign &&
          `presigned URLs for ${[...route.presign.methods].join(' ')} up to ${route.presign.maxExpiresIn} s`,
      ].filter(Boolean);
      logger.info(
        `proxysigv4 route ${name} -> ${route.target} (service ${route.service}, region ${route.region}${notes.map(n => `, ${n}`).join('')})`,
      );
    }
  };
}

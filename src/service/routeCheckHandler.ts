import { Request, Response, NextFunction } from 'express';
import { HttpAuthService, PermissionsService } from '@backstage/backend-plugin-api';
import {
  NotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
} from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { ROUTE_CHECK_PATH, RouteConfig } from '../config/types';
import { MethodNotAllowedError, sendError } from '../forwarding/errors';
import { routeCheckPermission } from '../access/routeCheckPermission';
import { RouteChecker } from './routeCheck';

/**
 * The route check's handler, mounted at {@link ROUTE_CHECK_PATH}: a Backstage token (never
 * the cookie), the `proxysigv4.routes.check` permission, GET only; `?route=` picks one route.
 * Without a permissions service (an embedder that passed none) it is refused: what it shows
 * is for operators only.
 */
export function routeCheckHandler(options: {
  httpAuth: HttpAuthService;
  permissions?: PermissionsService;
  /** The routes in force now. */
  routes: () => RouteConfig[];
  checker: RouteChecker;
}) {
  const { httpAuth, permissions, routes, checker } = options;
  return async (req: Request, res: Response, next: NextFunction) => {
    if (req.path !== '/') {
      next();
      return;
    }
    try {
      const credentials = await httpAuth.credentials(req, { allow: ['user', 'service'] });
      if (req.method !== 'GET') {
        throw new MethodNotAllowedError(
          `Method ${req.method} is not allowed on ${ROUTE_CHECK_PATH}`,
          ['GET'],
        );
      }
      if (!permissions) {
        throw new NotAllowedError(
          `${ROUTE_CHECK_PATH} needs a permissions service to check ${routeCheckPermission.name}`,
        );
      }
      const decision = await permissions
        .authorize([{ permission: routeCheckPermission }], { credentials })
        .then(([d]) => d)
        .catch(error => {
          throw new ServiceUnavailableError(
            `Could not check the permission ${routeCheckPermission.name}: ${(error as Error)?.message ?? error}`,
          );
        });
      if (decision.result !== AuthorizeResult.ALLOW) {
        throw new NotAllowedError(
          `The permission ${routeCheckPermission.name} is not granted to the caller`,
        );
      }
      const only = typeof req.query.route === 'string' ? req.query.route : undefined;
      const selected = routes().filter(r => only === undefined || (r.route || '/') === only);
      if (only !== undefined && selected.length === 0) {
        throw new NotFoundError(`No proxysigv4 route is configured as ${only}`);
      }
      const reports = await Promise.all(selected.map(r => checker.check(r, credentials)));
      res.setHeader('cache-control', 'no-store');
      res.json({ routes: reports });
    } catch (error) {
      sendError(req, res, error);
    }
  };
}

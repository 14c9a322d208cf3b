import { Request } from 'express';
import {
  BackstageCredentials,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import {
  AuthenticationError,
  NotAllowedError,
  ServiceUnavailableError,
} from '@backstage/errors';
import {
  AuthorizeResult,
  BasicPermission,
  createPermission,
} from '@backstage/plugin-permission-common';
import { RouteConfig } from '../config/types';

/**
 * The methods for which a `user-cookie` route accepts the Backstage user cookie: what a page
 * loads with `<img src>`, `<a href>` or `<video src>`. Anything that changes something needs
 * a token, so that another site cannot make a signed-in browser send it (cross-site request
 * forgery: the cookie is SameSite=None when Backstage is served over https).
 */
export const COOKIE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

/** The `action` attribute of the permission checked for a method. */
export type PermissionAction = 'read' | 'create' | 'update' | 'delete';

/**
 * The permission action of an HTTP method, by HTTP's meaning of the method. A policy, or the
 * access restrictions of a static token, can use it to tell reads from writes on one route.
 */
export function permissionAction(method: string): PermissionAction {
  switch (method) {
    case 'POST':
      return 'create';
    case 'PUT':
    case 'PATCH':
      return 'update';
    case 'DELETE':
      return 'delete';
    default:
      return 'read';
  }
}

/** The permission a route names, as registered with the permission framework. */
export function routePermission(name: string): BasicPermission {
  return createPermission({ name, attributes: {} });
}

/**
 * Decides whether a request may use a route: its Backstage credentials as the route's
 * `credentials` policy demands, then the route's `permission`, if any. Throws a 401
 * (AuthenticationError), a 403 (NotAllowedError), or a 503 when the permission could not be
 * checked; never lets a request through on a failure.
 */
export class CallerAdmission {
  constructor(
    private readonly httpAuth: HttpAuthService,
    private readonly permissions: PermissionsService,
  ) {}

  /**
   * Returns the caller's credentials, or throws. On an open route: whatever credentials the
   * request carries, or undefined when its token is not valid (which changes nothing there).
   */
  async admit(
    req: Request,
    route: RouteConfig,
  ): Promise<BackstageCredentials | undefined> {
    const credentials = await this.authenticate(req, route);
    if (route.permission !== undefined) {
      if (!credentials) {
        // Not reached: a route with a permission is never open (readRoutes refuses it).
        throw new AuthenticationError('Missing credentials');
      }
      await this.authorize(credentials, route.permission, req.method);
    }
    return credentials;
  }

  private async authenticate(
    req: Request,
    route: RouteConfig,
  ): Promise<BackstageCredentials | undefined> {
    if (route.credentialsPolicy === 'dangerously-allow-unauthenticated') {
      return this.httpAuth.credentials(req).catch(() => undefined);
    }
    const cookie =
      route.credentialsPolicy === 'user-cookie' && COOKIE_METHODS.has(req.method);
    try {
      return await this.httpAuth.credentials(req, {
        allow: ['user', 'service'],
        allowLimitedAccess: cookie,
      });
    } catch (error) {
      if (
        route.credentialsPolicy === 'user-cookie' &&
        !cookie &&
        (error as Error).name === 'AuthenticationError'
      ) {
        throw new AuthenticationError(
          `${(error as Error).message}: this route accepts the Backstage user cookie for ${[...COOKIE_METHODS].join(' and ')} only; send a Backstage token for ${req.method}`,
        );
      }
      throw error;
    }
  }

  private async authorize(
    credentials: BackstageCredentials,
    name: string,
    method: string,
  ): Promise<void> {
    const action = permissionAction(method);
    let result: AuthorizeResult;
    try {
      const [decision] = await this.permissions.authorize(
        [{ permission: createPermission({ name, attributes: { action } }) }],
        { credentials },
      );
      result = decision.result;
    } catch (error) {
      throw new ServiceUnavailableError(
        `Could not check the permission ${name}: ${(error as Error)?.message ?? error}`,
      );
    }
    if (result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(
        `The permission ${name} (action ${action}) is not granted to the caller`,
      );
    }
  }
}

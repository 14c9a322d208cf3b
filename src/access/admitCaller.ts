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
import { canonicalQuery } from '../endpoint/canonical';
import { hasBody } from '../forwarding/body';
import { s3Actions } from './s3Actions';
import { isAllowedOperation, namedOperation, operationActions } from './operations';

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
 * The permission action of an HTTP method, by HTTP's meaning of the method: the action on
 * routes where nothing else says what a request does. A policy, or the access restrictions
 * of a static token, can use it to tell reads from writes on one route.
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

/**
 * What a request does, as the permission actions the caller needs on the route (usually one):
 * - on a route with `allowedOperations`, the action of the operation the request names
 *   (which must be on the list: 403 otherwise; 400 when it names none, or names it ambiguously);
 * - on an S3 route, the action of the S3 operation its method, query and headers select
 *   (see {@link s3Actions}: `POST ?delete` is a delete);
 * - elsewhere, the action of the method.
 */
export function requestActions(
  req: RequestShape,
  route: RouteConfig,
  rawQuery: string,
): PermissionAction[] {
  // Decoded as the signer decodes it, so that `?%64elete` is `delete` here as it is at S3.
  const query = canonicalQuery(rawQuery).params;
  if (route.allowedOperations !== undefined) {
    const operation = namedOperation(req.headers, query, hasBody(req));
    if (!isAllowedOperation(operation.name, route.allowedOperations)) {
      throw new NotAllowedError(
        `Operation ${operation.name} (from ${operation.from}) is not in the allowedOperations of route ${route.route || '/'}`,
      );
    }
    return [...operationActions(operation.name)];
  }
  if (route.s3) {
    return s3Actions(req.method, Object.keys(query), req.headers);
  }
  return [permissionAction(req.method)];
}

/**
 * What the permission check reads of a request: its method and headers (a presigned URL's
 * are the request it will be used for, not the one that asked for it).
 */
export type RequestShape = Pick<Request, 'method' | 'headers'>;

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
   * `rawQuery` is the request's query as the route table split it off. `as`, for a presigned
   * URL: the request the URL will be for, whose actions the permission is checked with
   * (authentication still reads `req`: its token, or its cookie on a GET).
   */
  async admit(
    req: Request,
    route: RouteConfig,
    rawQuery: string,
    as: RequestShape = req,
  ): Promise<BackstageCredentials | undefined> {
    const credentials = await this.authenticate(req, route);
    // Checked on every route with allowedOperations, with or without a permission.
    const actions =
      route.permission !== undefined || route.allowedOperations !== undefined
        ? requestActions(as, route, rawQuery)
        : [];
    if (route.permission !== undefined) {
      if (!credentials) {
        // Not reached: a route with a permission is never open (readRoutes refuses it).
        throw new AuthenticationError('Missing credentials');
      }
      await this.authorize(credentials, route.permission, actions);
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

  /** Asks for the permission once per action, in one call; every one must be allowed. */
  private async authorize(
    credentials: BackstageCredentials,
    name: string,
    actions: readonly PermissionAction[],
  ): Promise<void> {
    let results: AuthorizeResult[];
    try {
      const decisions = await this.permissions.authorize(
        actions.map(action => ({
          permission: createPermission({ name, attributes: { action } }),
        })),
        { credentials },
      );
      results = decisions.map(d => d.result);
    } catch (error) {
      throw new ServiceUnavailableError(
        `Could not check the permission ${name}: ${(error as Error)?.message ?? error}`,
      );
    }
    const denied = actions.find((_, i) => results[i] !== AuthorizeResult.ALLOW);
    if (denied !== undefined || results.length !== actions.length || actions.length === 0) {
      throw new NotAllowedError(
        `The permission ${name} (action ${denied ?? actions.join(', ')}) is not granted to the caller`,
      );
    }
  }
}

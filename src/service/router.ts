import express, { Request, Response } from 'express';
import Router from 'express-promise-router';
import {
  AuditorService,
  HttpAuthService,
  LoggerService,
  PermissionsService,
  UserInfoService,
} from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import { JsonValue } from '@backstage/types';
import { NotFoundError } from '@backstage/errors';
import { AwsCredentialsManager } from '@backstage/integration-aws-node';
import { PRESIGN_PATH, ROUTE_CHECK_PATH, RouteConfig } from '../config/types';
import {
  CredentialsResolver,
  CredentialsUnavailableError,
  integrationSecrets,
} from '../credentials/CredentialsResolver';
import { upstreamPath } from '../endpoint/upstreamPath';
import { signingAccessKeyId } from '../signing/signRequest';
import { filterRequestHeaders } from '../forwarding/requestHeaders';
import { prepareBody } from '../forwarding/body';
import { responsePolicyFor } from '../forwarding/responseHeaders';
import {
  clientGone,
  forward,
  whenClientDone,
} from '../forwarding/forward';
import {
  MethodNotAllowedError,
  sendError,
  statusOf,
} from '../forwarding/errors';
import { CallerAdmission } from '../access/admitCaller';
import { refuseActiveDestination } from '../access/fetchDestination';
import { auditRequest } from '../audit/auditRequest';
import { RouteTable } from './routeTable';
import { RouteChecker } from './routeCheck';
import { routeCheckHandler } from './routeCheckHandler';
import { presignHandler } from './presign';
import { signStep } from './signStep';
import { refuseVersionlessRequestLine } from './httpVersion';
import { awsSessionOf, enter, perCallerSource, routeRuntime } from './routeRuntime';
import { LiveRoutes } from './reload';
import { RouteSetChange } from './routeSet';

/** Options for {@link createRouter}. */
export interface RouterOptions {
  config: Config;
  logger: LoggerService;
  httpAuth: HttpAuthService;
  /**
   * Checks the routes' `permission`s. Required when a route names a permission; the plugin
   * passes `coreServices.permissions`.
   */
  permissions?: PermissionsService;
  /** Records every request to a route; the plugin passes `coreServices.auditor`. None: no records. */
  auditor?: AuditorService;
  /** Where AWS credentials come from; by default `DefaultAwsCredentialsManager.fromConfig(config)`. */
  credentialsManager?: AwsCredentialsManager;
  /**
   * The callers' groups, for the session tags of `sessionPerCaller` routes. Required when a
   * route sends session tags; the plugin passes `coreServices.userInfo`.
   */
  userInfo?: UserInfoService;
  /**
   * Told after each reload that changed the routes (the plugin logs the added and changed
   * routes and registers their auth policies).
   */
  onRoutesChanged?: (change: RouteSetChange) => void;
  /**
   * Routes added in code (by backend modules, through the extension point), merged with the
   * configured ones at start and at every reload.
   */
  moduleRoutes?: Readonly<Record<string, JsonValue>>;
}

/** The proxy's router, its routes, and a way to release its connections. */
export interface ProxyRouter {
  router: express.Router;
  /** The routes at start. */
  routes: RouteConfig[];
  /**
   * Follows the `proxysigv4` section from now on: a change swaps in the new routes without a
   * restart (an invalid one is logged and leaves the routes as they were).
   */
  watch(): void;
  /**
   * Checks every route's credentials (sts:GetCallerIdentity) and logs the outcome once per
   * route, unless `proxysigv4.checkCredentialsOnStart` is false. Never rejects.
   */
  checkCredentials(): Promise<void>;
  /**
   * Stops following the configuration, closes the routes' pooled upstream connections and
   * stops credential refresh timers.
   */
  close(): void;
}

/** Refuses routes that need a service the router was not given. */
function requireServices(routes: RouteConfig[], options: RouterOptions): void {
  const withPermission = routes.find(r => r.permission !== undefined);
  if (withPermission && !options.permissions) {
    throw new Error(
      `proxysigv4 route ${withPermission.route || '/'} names a permission, but the router was given no permissions service`,
    );
  }
  const tagged = routes.find(r => perCallerSource(r)?.sessionPerCaller?.sessionTags);
  if (tagged && !options.userInfo) {
    throw new Error(
      `proxysigv4 route ${tagged.route || '/'} sends session tags with the callers' groups (sessionPerCaller), but the router was given no userInfo service`,
    );
  }
}

/**
 * Builds the proxy from the `proxysigv4` configuration. Throws at start for an invalid
 * configuration. Every route requires Backstage credentials unless it opted out.
 */
export function createRouter(options: RouterOptions): ProxyRouter {
  const { config, logger, httpAuth, auditor } = options;
  const admission = new CallerAdmission(httpAuth, options.permissions!);
  const resolver = options.credentialsManager
    ? new CredentialsResolver(options.credentialsManager, {
        logger,
        secrets: integrationSecrets(config),
      })
    : CredentialsResolver.fromConfig(config, { logger });

  const live = new LiveRoutes({
    config,
    logger,
    resolver,
    moduleRoutes: options.moduleRoutes,
    validate: routes => requireServices(routes, options),
    makeRuntime: route => {
      if (route.debug) {
        logger.warn(
          `proxysigv4 route ${route.route || '/'} has debug on: every request's canonical request and string to sign are logged, with its path, query and signed header values (not the session token or SSE-C keys); turn it off when done`,
        );
      }
      return routeRuntime(route, resolver, options.userInfo, logger);
    },
    onChange: options.onRoutesChanged,
  });
  const routes = live.current.routes;

  // Case-sensitive, as route keys are: /_Routes may be a route of its own.
  const router = Router({ caseSensitive: true });
  router.use(refuseVersionlessRequestLine);

  // The route check: answered before any route, behind Backstage credentials and a permission.
  router.use(
    ROUTE_CHECK_PATH,
    routeCheckHandler({
      httpAuth,
      permissions: options.permissions,
      routes: () => live.current.routes,
      checker: new RouteChecker(resolver, (route, caller) =>
        live.current.runtimes.get(route)?.perCaller?.sessionFor(caller),
      ),
    }),
  );

  // Presigned URLs: answered before any route, with the checks of the route they are for.
  router.use(
    PRESIGN_PATH,
    presignHandler({ admission, routes: () => live.current, logger, auditor }),
  );

  router.use(async (req: Request, res: Response) => {
    let match: ReturnType<RouteTable['match']>;
    let routeLabel = '?';
    const audited = auditor && auditRequest(auditor, logger, req, res);
    // The routes in force when the request arrived serve it to its end, whatever a reload does.
    const { table, runtimes } = live.current;
    try {
      match = table.match(req.url);
      routeLabel = match?.route.route || '/';
      if (!match) {
        throw new NotFoundError(`No proxysigv4 route matches ${req.path}`);
      }
      if (audited) audited.route = routeLabel;
      const { route, rest, rawQuery } = match;
      const runtime = runtimes.get(route)!;
      // In flight until the exchange with the client is over: forward() resolves at the
      // answer's head, and the body may stream on through the route's connection long after.
      // One more 'close' listener than Backstage's stack expects: say so, so that Node does
      // not warn of a leak (a real backend already has ten on a response).
      const max = res.getMaxListeners();
      if (max !== 0) res.setMaxListeners(max + 1);
      whenClientDone(res, enter(runtime));

      const caller = await admission.admit(req, route, rawQuery);
      if (audited) audited.caller = caller;
      // Never a script, style or worker for Backstage's own (same-origin) pages.
      refuseActiveDestination(req);
      if (!route.allowedMethods.has(req.method)) {
        throw new MethodNotAllowedError(
          `Method ${req.method} is not allowed on route ${routeLabel}`,
          [...route.allowedMethods],
        );
      }

      const upstream = upstreamPath(route, rest, rawQuery);
      const headers = filterRequestHeaders(req.headers, route.allowedHeaders);
      headers.host = route.hostHeader;

      const prepared = await prepareBody(req, route, headers, Object.keys(upstream.query));
      if (audited && prepared.bufferedLength !== undefined) audited.requestBytes = prepared.bufferedLength;

      // sessionPerCaller: this caller's own session, found by their own admitted credentials.
      const session = runtime.perCaller && (await runtime.perCaller.sessionFor(caller));
      const credentials = session ? session.cache : runtime.credentials;
      const sign = signStep({
        req,
        route,
        signer: runtime.signer,
        upstream,
        headers,
        prepared,
        credentials: session?.cache.get,
        logger,
        onPayload: audited && (bytes => (audited.requestBytes += bytes)),
      });
      const signed = await sign();
      // Once signed: the record names the session only if it signed the request.
      if (audited && session) audited.awsSession = awsSessionOf(session, route);

      await forward(runtime.target, signed, res, {
        // The upstream said the credentials are expired or unknown: drop them (unless
        // already replaced), fetch fresh ones, and send the request once more; unless a
        // rejection forced a refresh moments ago: then the upstream's answer is passed on.
        resignAfterRejectedCredentials: async () => {
          if (!credentials.invalidate(signingAccessKeyId(signed.headers))) {
            return undefined;
          }
          logger.debug(
            `proxysigv4 route ${routeLabel}: the upstream rejected the credentials as expired or unknown; retrying once with fresh credentials`,
          );
          return sign();
        },
        // A streamed upload cannot be sent again: the credentials are dropped all the same.
        credentialsRejected: () => {
          if (credentials.invalidate(signingAccessKeyId(signed.headers))) {
            logger.debug(
              `proxysigv4 route ${routeLabel}: the upstream rejected the credentials of a streamed upload as expired or unknown; the next request gets fresh ones`,
            );
          }
        },
        transferred: audited,
        requestBytesCounted: prepared.chunked !== undefined,
        responsePolicy: responsePolicyFor(req, route),
      });
    } catch (error) {
      if (audited) audited.error = error as Error;
      if (clientGone(res)) {
        // The client went away (mid-upload, say): nobody to answer, nothing went upstream.
        logger.debug(`proxysigv4 route ${routeLabel}: client closed the connection`);
        return;
      }
      const status = statusOf(error);
      const message = (error as Error)?.message ?? String(error);
      if (error instanceof CredentialsUnavailableError) {
        // Logged by the credentials cache when the failure starts and ends, not per request.
        logger.debug(`proxysigv4 route ${routeLabel}: ${req.method} failed with ${status}: ${message}`);
      } else if (status >= 500) {
        logger.error(`proxysigv4 route ${routeLabel}: ${req.method} failed with ${status}: ${message}`);
      } else if (status !== 401 && status !== 404) {
        logger.warn(`proxysigv4 route ${routeLabel}: ${req.method} rejected with ${status}: ${message}`);
      }
      if (res.headersSent) {
        res.destroy();
      } else {
        sendError(req, res, error);
      }
    }
  });

  return {
    router,
    routes,
    watch: () => live.watch(),
    checkCredentials: () => live.checkCredentials(),
    close() {
      live.close();
      resolver.close();
    },
  };
}

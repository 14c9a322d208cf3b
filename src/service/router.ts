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
import { NotFoundError } from '@backstage/errors';
import { AwsCredentialsManager } from '@backstage/integration-aws-node';
import { ROUTE_CHECK_PATH, RouteConfig } from '../config/types';
import { readProxyConfig } from '../config/readRoutes';
import {
  CredentialsResolver,
  CredentialsUnavailableError,
  integrationSecrets,
} from '../credentials/CredentialsResolver';
import { upstreamPath } from '../endpoint/upstreamPath';
import { signingAccessKeyId } from '../signing/signRequest';
import { describeSigning, SigningTrace } from '../signing/signingTrace';
import { filterRequestHeaders } from '../forwarding/requestHeaders';
import { prepareBody } from '../forwarding/body';
import { responsePolicyFor } from '../forwarding/responseHeaders';
import {
  clientGone,
  forward,
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
import { logRouteChecks, RouteChecker } from './routeCheck';
import { routeCheckHandler } from './routeCheckHandler';
import { refuseVersionlessRequestLine } from './httpVersion';
import { awsSessionOf, perCallerSource, routeRuntime, RouteRuntime } from './routeRuntime';

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
}

/** The proxy's router, its routes, and a way to release its connections. */
export interface ProxyRouter {
  router: express.Router;
  routes: RouteConfig[];
  /**
   * Checks every route's credentials (sts:GetCallerIdentity) and logs the outcome once per
   * route, unless `proxysigv4.checkCredentialsOnStart` is false. Never rejects.
   */
  checkCredentials(): Promise<void>;
  /** Closes the routes' pooled upstream connections and stops credential refresh timers. */
  close(): void;
}

/**
 * Builds the proxy from the `proxysigv4` configuration. Throws at start for an invalid
 * configuration. Every route requires Backstage credentials unless it opted out.
 */
export function createRouter(options: RouterOptions): ProxyRouter {
  const { config, logger, httpAuth, auditor } = options;
  const { routes, checkCredentialsOnStart } = readProxyConfig(config);
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
  const admission = new CallerAdmission(httpAuth, options.permissions!);
  const resolver = options.credentialsManager
    ? new CredentialsResolver(options.credentialsManager, {
        logger,
        secrets: integrationSecrets(config),
      })
    : CredentialsResolver.fromConfig(config, { logger });

  const runtimes = new Map<RouteConfig, RouteRuntime>();
  for (const route of routes) {
    if (route.debug) {
      logger.warn(
        `proxysigv4 route ${route.route || '/'} has debug on: every request's canonical request and string to sign are logged, with its path, query and signed header values (not the session token or SSE-C keys); turn it off when done`,
      );
    }
    runtimes.set(route, routeRuntime(route, resolver, options.userInfo, logger));
  }
  const table = new RouteTable(routes);

  // Case-sensitive, as route keys are: /_Routes may be a route of its own.
  const router = Router({ caseSensitive: true });
  router.use(refuseVersionlessRequestLine);

  // The route check: answered before any route, behind Backstage credentials and a permission.
  router.use(
    ROUTE_CHECK_PATH,
    routeCheckHandler({
      httpAuth,
      permissions: options.permissions,
      routes,
      checker: new RouteChecker(resolver, (route, caller) =>
        runtimes.get(route)!.perCaller?.sessionFor(caller),
      ),
    }),
  );

  router.use(async (req: Request, res: Response) => {
    let match: ReturnType<RouteTable['match']>;
    let routeLabel = '?';
    const audited = auditor && auditRequest(auditor, logger, req, res);
    try {
      match = table.match(req.url);
      routeLabel = match?.route.route || '/';
      if (!match) {
        throw new NotFoundError(`No proxysigv4 route matches ${req.path}`);
      }
      if (audited) audited.route = routeLabel;
      const { route, rest, rawQuery } = match;
      const runtime = runtimes.get(route)!;

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

      const { body, payloadHash, bufferedLength } = await prepareBody(req, route, headers);
      if (audited && bufferedLength !== undefined) audited.requestBytes = bufferedLength;

      // sessionPerCaller: this caller's own session, found by their own admitted credentials.
      const session = runtime.perCaller && (await runtime.perCaller.sessionFor(caller));
      const credentials = session ? session.cache : runtime.credentials;

      // debug: true logs what was signed, for comparison with a SignatureDoesNotMatch.
      const logTrace = route.debug
        ? (trace: SigningTrace) =>
            logger.info(describeSigning(routeLabel, req.method, upstream.wire, trace))
        : undefined;
      const sign = async () => ({
        method: req.method,
        path: upstream.wire,
        body,
        headers: await runtime.signer.sign(
          {
            method: req.method,
            protocol: route.protocol,
            hostname: route.hostname,
            port: route.port,
            path: upstream.path,
            query: upstream.query,
            headers,
            payloadHash,
            unsignedPayload: route.unsignedPayload,
          },
          logTrace,
          session?.cache.get,
        ),
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
        transferred: audited,
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
    async checkCredentials() {
      if (!checkCredentialsOnStart) return;
      try {
        await logRouteChecks(routes, resolver, logger);
      } catch (error) {
        logger.warn(`proxysigv4: could not check the routes' credentials: ${error}`);
      }
    },
    close() {
      resolver.close();
      for (const runtime of runtimes.values()) {
        runtime.target.agent.destroy();
      }
    },
  };
}

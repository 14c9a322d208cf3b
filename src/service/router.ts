import express, { Request, Response } from 'express';
import Router from 'express-promise-router';
import {
  HttpAuthService,
  LoggerService,
} from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import { NotFoundError } from '@backstage/errors';
import { AwsCredentialsManager } from '@backstage/integration-aws-node';
import { RouteConfig } from '../config/types';
import { readProxyConfig } from '../config/readRoutes';
import { CredentialsResolver } from '../credentials/CredentialsResolver';
import { upstreamPath } from '../endpoint/upstreamPath';
import { RouteSigner } from '../signing/signRequest';
import { filterRequestHeaders } from '../forwarding/requestHeaders';
import { hasBody, readBody } from '../forwarding/body';
import {
  clientGone,
  createAgent,
  forward,
  UpstreamTarget,
} from '../forwarding/forward';
import {
  MethodNotAllowedError,
  sendError,
  statusOf,
} from '../forwarding/errors';
import { RouteTable } from './routeTable';

/** Options for {@link createRouter}. */
export interface RouterOptions {
  config: Config;
  logger: LoggerService;
  httpAuth: HttpAuthService;
  /** Where AWS credentials come from; by default `DefaultAwsCredentialsManager.fromConfig(config)`. */
  credentialsManager?: AwsCredentialsManager;
}

/** The proxy's router, its routes, and a way to release its connections. */
export interface ProxyRouter {
  router: express.Router;
  routes: RouteConfig[];
  /** Closes the routes' pooled upstream connections. */
  close(): void;
}

/** Methods that carry a body: always sent with a Content-Length, 0 when empty. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

interface RouteRuntime {
  config: RouteConfig;
  signer: RouteSigner;
  target: UpstreamTarget;
}

/**
 * Builds the proxy from the `proxysigv4` configuration. Throws at start for an invalid
 * configuration. Every route requires Backstage credentials unless it opted out.
 */
export function createRouter(options: RouterOptions): ProxyRouter {
  const { config, logger, httpAuth } = options;
  const { routes } = readProxyConfig(config);
  const resolver = options.credentialsManager
    ? new CredentialsResolver(options.credentialsManager)
    : CredentialsResolver.fromConfig(config);

  const runtimes = new Map<RouteConfig, RouteRuntime>();
  for (const route of routes) {
    runtimes.set(route, {
      config: route,
      signer: new RouteSigner(route, resolver.forSource(route.credentialSource)),
      target: {
        protocol: route.protocol,
        hostname: route.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: route.port,
        agent: createAgent(route.protocol),
        timeout: route.timeout,
        allowedResponseHeaders: route.allowedResponseHeaders,
      },
    });
  }
  const table = new RouteTable(routes);

  const router = Router();
  router.use(async (req: Request, res: Response) => {
    let match: ReturnType<RouteTable['match']>;
    let routeLabel = '?';
    try {
      match = table.match(req.url);
      routeLabel = match?.route.route || '/';
      if (!match) {
        throw new NotFoundError(`No proxysigv4 route matches ${req.path}`);
      }
      const { route, rest, rawQuery } = match;
      const runtime = runtimes.get(route)!;

      if (route.credentialsPolicy === 'require') {
        await httpAuth.credentials(req, { allow: ['user', 'service'] });
      }
      if (!route.allowedMethods.has(req.method)) {
        throw new MethodNotAllowedError(
          `Method ${req.method} is not allowed on route ${routeLabel}`,
          [...route.allowedMethods],
        );
      }

      const upstream = upstreamPath(route, rest, rawQuery);
      const headers = filterRequestHeaders(req.headers, route.allowedHeaders);
      headers.host = route.hostHeader;

      let body: Buffer | Request | undefined;
      const withBody = hasBody(req);
      if (withBody && route.unsignedPayload) {
        body = req; // streamed as it arrives; Content-Length, if any, passes as sent
      } else {
        delete headers['content-length'];
        const buffered = withBody
          ? await readBody(req, route.maxBodySize)
          : undefined;
        if (buffered?.length || BODY_METHODS.has(req.method)) {
          // Always a length, never chunked: S3 and others refuse chunked uploads.
          headers['content-length'] = String(buffered?.length ?? 0);
        }
        body = buffered;
      }

      const signedHeaders = await runtime.signer.sign({
        method: req.method,
        protocol: route.protocol,
        hostname: route.hostname,
        port: route.port,
        path: upstream.path,
        query: upstream.query,
        headers,
        body: body instanceof Buffer ? body : undefined,
        unsignedPayload: route.unsignedPayload,
      });

      await forward(
        runtime.target,
        { method: req.method, path: upstream.wire, headers: signedHeaders, body },
        res,
      );
    } catch (error) {
      if (clientGone(res)) {
        // The client went away (mid-upload, say): nobody to answer, nothing went upstream.
        logger.debug(`proxysigv4 route ${routeLabel}: client closed the connection`);
        return;
      }
      const status = statusOf(error);
      const message = (error as Error)?.message ?? String(error);
      if (status >= 500) {
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
    close() {
      for (const runtime of runtimes.values()) {
        runtime.target.agent.destroy();
      }
    },
  };
}

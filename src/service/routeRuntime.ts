import { LoggerService, UserInfoService } from '@backstage/backend-plugin-api';
import { RouteConfig } from '../config/types';
import { CredentialsCache } from '../credentials/cachedCredentials';
import { CallerSession } from '../credentials/callerSessions';
import { CredentialsResolver, PerCallerSource } from '../credentials/CredentialsResolver';
import { createAgent, UpstreamTarget } from '../forwarding/forward';
import { RouteSigner } from '../signing/signRequest';
import { PerCallerSessions } from './perCallerSessions';

/**
 * What a route needs at request time, built at start or when a reload adds or changes the
 * route, and kept across reloads that leave the route as it was.
 */
export interface RouteRuntime {
  config: RouteConfig;
  /** Requests being handled on this route (counted so that a retired route drains first). */
  inFlight: number;
  /** Replaced or removed by a reload: its connections close once its last request is done. */
  retired: boolean;
  /** The route's shared credentials; unused when each caller has a session (`perCaller`). */
  credentials: CredentialsCache;
  /** `sessionPerCaller` routes: finds each caller's own session. */
  perCaller?: PerCallerSessions;
  signer: RouteSigner;
  target: UpstreamTarget;
}

/** The route's credential source when it makes a session per caller. */
export function perCallerSource(route: RouteConfig): PerCallerSource | undefined {
  const source = route.credentialSource;
  return (source.kind === 'role' || source.kind === 'endpoint') && source.sessionPerCaller
    ? source
    : undefined;
}

/** The AWS session a request was signed with, for the audit record (joins CloudTrail). */
export function awsSessionOf(session: CallerSession, route: RouteConfig) {
  const perCaller = perCallerSource(route)!.sessionPerCaller!;
  return {
    roleSessionName: session.identity,
    ...(perCaller.sourceIdentity ? { sourceIdentity: session.identity } : {}),
  };
}

/** A route's credentials (shared, or per caller), signer and upstream connection pool. */
export function routeRuntime(
  route: RouteConfig,
  resolver: CredentialsResolver,
  userInfo: UserInfoService | undefined,
  logger: LoggerService,
): RouteRuntime {
  const perCaller = perCallerSource(route);
  // On a per-caller route this cache refuses: only the caller's own session signs.
  const credentials = resolver.forSource(route.credentialSource);
  return {
    config: route,
    inFlight: 0,
    retired: false,
    credentials,
    perCaller: perCaller
      ? new PerCallerSessions(route.route || '/', perCaller, resolver, userInfo, logger)
      : undefined,
    signer: new RouteSigner(route, credentials.get),
    target: {
      protocol: route.protocol,
      hostname: route.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: route.port,
      agent: createAgent(route.protocol),
      timeout: route.timeout,
      allowedResponseHeaders: route.allowedResponseHeaders,
    },
  };
}

/** A request starts on the runtime; call the function returned once it is done. */
export function enter(runtime: RouteRuntime): () => void {
  runtime.inFlight += 1;
  let left = false;
  return () => {
    if (left) return;
    left = true;
    runtime.inFlight -= 1;
    if (runtime.retired && runtime.inFlight === 0) runtime.target.agent.destroy();
  };
}

/**
 * A reload replaced or removed the route: its pooled connections close now if it is idle,
 * else once its last request is done (requests in flight finish on the route they started on).
 */
export function retire(runtime: RouteRuntime): void {
  runtime.retired = true;
  if (runtime.inFlight === 0) runtime.target.agent.destroy();
}

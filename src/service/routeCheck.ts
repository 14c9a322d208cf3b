import { BackstageCredentials, LoggerService } from '@backstage/backend-plugin-api';
import { CredentialSourceConfig, RouteConfig, SessionPerCaller } from '../config/types';
import { CallerSession } from '../credentials/callerSessions';
import { callerKey, callerOf } from '../credentials/callerIdentity';
import { DroppedTag, SessionTag } from '../credentials/sessionTags';
import { perCallerSource } from './routeRuntime';
import {
  CredentialsResolver,
  IdentityCheck,
} from '../credentials/CredentialsResolver';
import { stsEndpointFor } from '../credentials/sts';
import { shownEndpoint } from '../credentials/credentialsEndpoint';

/** Where a route's credentials come from, as the route check shows it: no secrets. */
export type CredentialSourceReport =
  | { source: 'main-account' }
  | { source: 'account'; accountId: string }
  | {
      source: 'role';
      roleArn: string;
      /** Absent with `sessionPerCaller`: each session is named after its caller. */
      roleSessionName?: string;
      /** `main-account`, or the account id whose credentials assume the role. */
      assumedWith: string;
      externalId: boolean;
      sessionPerCaller?: SessionPerCaller;
    }
  | {
      source: 'credentials-endpoint';
      /** Scheme, host and port only. */
      endpoint: string;
      roleArn?: string;
      sessionPerCaller?: SessionPerCaller;
    };

/** The session a `sessionPerCaller` route makes for the caller who asks. */
export interface CallerSessionReport {
  roleSessionName: string;
  sourceIdentity?: string;
  tags: readonly SessionTag[];
  /** Tags left out (fewer rights, never more), and why: the first ten. */
  droppedTags: readonly DroppedTag[];
  /** How many tags were left out in all. */
  droppedTagCount: number;
  transitiveTagKeys: readonly string[];
}

/** One route in the route check's answer. */
export interface RouteReport {
  route: string;
  target: { host: string; basePath: string; service: string; region: string };
  credentials: CredentialSourceReport;
  /** The STS endpoint of the identity check (and of AssumeRole). */
  stsEndpoint: string;
  /** Present when the route logs canonical requests (`debug: true`). */
  debug?: true;
  check: IdentityCheck;
  /** `sessionPerCaller` routes: the session of the caller who asked. */
  session?: CallerSessionReport;
  /** `sessionPerCaller` routes: `you would sign as <the assumed-role ARN of your session>`. */
  you?: string;
  /** When the identity check ran (ISO 8601): a live check is reused for {@link ROUTE_CHECK_TTL_MS}. */
  checkedAt: string;
}

/**
 * How long a route's identity check is reused by the route check: each live check costs an
 * sts:GetCallerIdentity (and maybe an AssumeRole), so a caller polling `/_routes` must not
 * turn into as many STS calls.
 */
export const ROUTE_CHECK_TTL_MS = 30_000;

/** The most callers whose route check is kept per route. */
const MAX_CHECKED_CALLERS = 1000;

/**
 * Checks routes for the route check, reusing each route's outcome for a while; concurrent
 * checks of one route share one STS call.
 */
export class RouteChecker {
  /** Per route, per caller (`''` for routes without a session per caller). */
  // Weak: a route a reload replaced goes with its checks.
  private readonly recent = new WeakMap<
    RouteConfig,
    Map<string, { until: number; report: Promise<RouteReport> }>
  >();

  constructor(
    private readonly resolver: CredentialsResolver,
    /** The caller's session on a `sessionPerCaller` route, undefined on other routes. */
    private readonly sessionFor: (
      route: RouteConfig,
      caller: BackstageCredentials,
    ) => Promise<CallerSession> | undefined = () => undefined,
    private readonly ttlMs = ROUTE_CHECK_TTL_MS,
  ) {}

  check(route: RouteConfig, caller?: BackstageCredentials): Promise<RouteReport> {
    const now = Date.now();
    // Per caller on sessionPerCaller routes: each caller is shown their own session.
    const perCaller = caller !== undefined && perCallerSource(route) !== undefined;
    const who = perCaller ? callerKey(callerOf(caller)!) : '';
    let forRoute = this.recent.get(route);
    if (!forRoute) {
      forRoute = new Map();
      this.recent.set(route, forRoute);
    }
    const cached = forRoute.get(who);
    if (cached && now < cached.until) {
      return cached.report;
    }
    if (forRoute.size >= MAX_CHECKED_CALLERS) {
      // Bounded like the sessions: expired checks go first, then all.
      for (const [key, entry] of forRoute) if (now >= entry.until) forRoute.delete(key);
      if (forRoute.size >= MAX_CHECKED_CALLERS) forRoute.clear();
    }
    const report = checkRoute(route, this.resolver, perCaller ? this.sessionFor(route, caller) : undefined);
    forRoute.set(who, { until: now + this.ttlMs, report });
    return report;
  }
}

function describeSource(source: CredentialSourceConfig): CredentialSourceReport {
  switch (source.kind) {
    case 'main':
      return { source: 'main-account' };
    case 'account':
      return { source: 'account', accountId: source.accountId };
    case 'role':
      return {
        source: 'role',
        roleArn: source.roleArn,
        // With sessionPerCaller each session is named after its caller (`session` below).
        ...(source.sessionPerCaller ? {} : { roleSessionName: source.roleSessionName }),
        assumedWith:
          source.source.kind === 'account' ? source.source.accountId : 'main-account',
        // Whether one is set, never its value.
        externalId: source.externalId !== undefined,
        ...(source.sessionPerCaller ? { sessionPerCaller: source.sessionPerCaller } : {}),
      };
    case 'endpoint':
      return {
        source: 'credentials-endpoint',
        endpoint: shownEndpoint(source.url),
        ...(source.roleArn ? { roleArn: source.roleArn } : {}),
        ...(source.sessionPerCaller ? { sessionPerCaller: source.sessionPerCaller } : {}),
      };
    default:
      throw new Error('unknown credential source');
  }
}

/**
 * Checks one route: sts:GetCallerIdentity with its credentials, or, given the session of
 * the caller who asks (`sessionPerCaller`), with that session's.
 */
export async function checkRoute(
  route: RouteConfig,
  resolver: CredentialsResolver,
  sessionOf?: Promise<CallerSession>,
): Promise<RouteReport> {
  let session: CallerSession | undefined;
  let check: IdentityCheck | undefined;
  try {
    session = await sessionOf;
  } catch (error) {
    check = {
      ok: false,
      code: (error as { code?: string }).code ?? 'Error',
      message: String((error as Error)?.message ?? error),
    };
  }
  check ??= await resolver.checkIdentity(route.credentialSource, route.sts, session?.cache);
  const perCaller = session && perCallerSource(route)?.sessionPerCaller;
  return {
    route: route.route || '/',
    target: {
      host: route.hostHeader,
      basePath: route.basePath,
      service: route.service,
      region: route.region,
    },
    credentials: describeSource(route.credentialSource),
    stsEndpoint: stsEndpointFor(route.sts),
    ...(route.debug ? { debug: true as const } : {}),
    check,
    ...(session && perCaller
      ? {
          session: {
            roleSessionName: session.identity,
            ...(perCaller.sourceIdentity ? { sourceIdentity: session.identity } : {}),
            tags: session.tags,
            droppedTags: session.dropped,
            droppedTagCount: session.droppedCount,
            transitiveTagKeys: perCaller.transitiveTags ? session.tags.map(t => t.Key) : [],
          },
          ...(check.ok ? { you: `you would sign as ${check.arn}` } : {}),
        }
      : {}),
    checkedAt: new Date().toISOString(),
  };
}

/**
 * At start, in the background: checks every route's credentials and logs the outcome once
 * per route, who it signs as or why it cannot sign.
 */
export async function logRouteChecks(
  routes: RouteConfig[],
  resolver: CredentialsResolver,
  logger: LoggerService,
): Promise<void> {
  await Promise.all(
    routes.map(async route => {
      const source = perCallerSource(route);
      if (source) {
        await logPerCallerCheck(route, source, resolver, logger);
        return;
      }
      const { route: name, check, stsEndpoint } = await checkRoute(route, resolver);
      if (check.ok) {
        logger.info(`proxysigv4 route ${name} signs as ${check.arn}`);
      } else {
        logger.warn(
          `proxysigv4 route ${name}: credentials check (sts:GetCallerIdentity at ${stsEndpoint}) failed (${check.code}): ${check.message}`,
        );
      }
    }),
  );
}

/**
 * A `sessionPerCaller` route has no session until a caller comes: at start, only the
 * credentials that assume its role are checked (so that starting needs neither
 * sts:SetSourceIdentity nor sts:TagSession); the route check shows a caller's own session.
 */
async function logPerCallerCheck(
  route: RouteConfig,
  source: Extract<CredentialSourceConfig, { kind: 'role' | 'endpoint' }>,
  resolver: CredentialsResolver,
  logger: LoggerService,
): Promise<void> {
  const name = route.route || '/';
  if (source.kind === 'endpoint') {
    logger.info(
      `proxysigv4 route ${name} gets a session per caller from credentials endpoint ${shownEndpoint(source.url)}; checked on each caller's first request (GET /_routes shows yours)`,
    );
    return;
  }
  const check = await resolver.checkIdentity(source.source, route.sts);
  if (check.ok) {
    logger.info(
      `proxysigv4 route ${name} assumes ${source.roleArn} once per caller, with ${check.arn}; each session is named after its caller (GET /_routes shows yours)`,
    );
  } else {
    logger.warn(
      `proxysigv4 route ${name}: the credentials that assume ${source.roleArn} for each caller failed their check (sts:GetCallerIdentity at ${stsEndpointFor(route.sts)}) (${check.code}): ${check.message}`,
    );
  }
}

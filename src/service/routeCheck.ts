import { LoggerService } from '@backstage/backend-plugin-api';
import { CredentialSourceConfig, RouteConfig } from '../config/types';
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
      roleSessionName: string;
      /** `main-account`, or the account id whose credentials assume the role. */
      assumedWith: string;
      externalId: boolean;
    }
  | {
      source: 'credentials-endpoint';
      /** Scheme, host and port only. */
      endpoint: string;
      roleArn?: string;
    };

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
  /** When the identity check ran (ISO 8601): a live check is reused for {@link ROUTE_CHECK_TTL_MS}. */
  checkedAt: string;
}

/**
 * How long a route's identity check is reused by the route check: each live check costs an
 * sts:GetCallerIdentity (and maybe an AssumeRole), so a caller polling `/_routes` must not
 * turn into as many STS calls.
 */
export const ROUTE_CHECK_TTL_MS = 30_000;

/**
 * Checks routes for the route check, reusing each route's outcome for a while; concurrent
 * checks of one route share one STS call.
 */
export class RouteChecker {
  private readonly recent = new Map<RouteConfig, { until: number; report: Promise<RouteReport> }>();

  constructor(
    private readonly resolver: CredentialsResolver,
    private readonly ttlMs = ROUTE_CHECK_TTL_MS,
  ) {}

  check(route: RouteConfig): Promise<RouteReport> {
    const now = Date.now();
    const cached = this.recent.get(route);
    if (cached && now < cached.until) {
      return cached.report;
    }
    const report = checkRoute(route, this.resolver);
    this.recent.set(route, { until: now + this.ttlMs, report });
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
        roleSessionName: source.roleSessionName,
        assumedWith:
          source.source.kind === 'account' ? source.source.accountId : 'main-account',
        // Whether one is set, never its value.
        externalId: source.externalId !== undefined,
      };
    case 'endpoint':
      return {
        source: 'credentials-endpoint',
        endpoint: shownEndpoint(source.url),
        ...(source.roleArn ? { roleArn: source.roleArn } : {}),
      };
    default:
      throw new Error('unknown credential source');
  }
}

/** Checks one route: sts:GetCallerIdentity with its credentials. */
export async function checkRoute(
  route: RouteConfig,
  resolver: CredentialsResolver,
): Promise<RouteReport> {
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
    check: await resolver.checkIdentity(route.credentialSource, route.sts),
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

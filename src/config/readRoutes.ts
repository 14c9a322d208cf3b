import { Config } from '@backstage/config';
import { JsonObject } from '@backstage/types';
import { hostInfo } from '../endpoint/hostInfo';
import { canonicalPath } from '../endpoint/canonical';
import { isNeverForwardedRequestHeader } from '../forwarding/requestHeaders';
import { isNeverForwardedResponseHeader } from '../forwarding/responseHeaders';
import {
  CredentialSourceConfig,
  CredentialsPolicy,
  DEFAULT_MAX_BODY_SIZE,
  DEFAULT_TIMEOUT_MS,
  RouteConfig,
} from './types';

/** A configuration problem; the message names the route and the field. */
export class ProxyConfigError extends Error {
  name = 'ProxyConfigError';
}

const TOP_LEVEL_KEYS = new Set(['allowUnauthenticatedRequests']);

const ROUTE_FIELDS = new Set([
  'target',
  'service',
  'region',
  'accountId',
  'roleArn',
  'roleSessionName',
  'credentials',
  'allowedMethods',
  'allowedHeaders',
  'allowedResponseHeaders',
  'maxBodySize',
  'unsignedPayload',
  'timeout',
]);

/** The methods a route can allow; also the default. */
const METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
]);

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const SERVICE_NAME = /^[a-z0-9][a-z0-9-]*$/;
const REGION_NAME = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const ACCOUNT_ID = /^\d{12}$/;

/** The validated `proxysigv4` section. */
export interface ProxySigV4Config {
  routes: RouteConfig[];
}

/**
 * Reads and validates `proxysigv4`. Throws a {@link ProxyConfigError} naming the route and
 * field for anything invalid or unknown: nothing is silently ignored.
 */
export function readProxyConfig(rootConfig: Config): ProxySigV4Config {
  // Route keys contain '/', which Config's getters refuse: read the section as plain JSON.
  const section = rootConfig.getOptional('proxysigv4');
  if (section === undefined) {
    return { routes: [] };
  }
  if (!isObject(section)) {
    throw new ProxyConfigError('proxysigv4 must be a map of routes');
  }
  let allowUnauthenticated = false;
  if ('allowUnauthenticatedRequests' in section) {
    const value = section.allowUnauthenticatedRequests;
    if (typeof value !== 'boolean') {
      throw new ProxyConfigError(
        'proxysigv4.allowUnauthenticatedRequests must be true or false',
      );
    }
    allowUnauthenticated = value;
  }

  // integration-aws-node resolves an account it does not know by asking STS who the main
  // account is; refuse that at start instead of calling STS on a request.
  const knownAccounts = new Set(
    (rootConfig.getOptionalConfigArray('aws.accounts') ?? []).map(a =>
      a.getString('accountId'),
    ),
  );
  const hasAccountDefaults = rootConfig.has('aws.accountDefaults');

  const routes: RouteConfig[] = [];
  const seen = new Map<string, string>();
  for (const key of Object.keys(section)) {
    if (TOP_LEVEL_KEYS.has(key)) {
      continue;
    }
    if (!key.startsWith('/')) {
      throw new ProxyConfigError(
        `proxysigv4.${key}: unknown setting; route keys must begin with '/'`,
      );
    }
    const route = readRoute(section, key, allowUnauthenticated);
    const source = route.credentialSource;
    if (
      source.kind === 'account' &&
      !knownAccounts.has(source.accountId) &&
      !hasAccountDefaults
    ) {
      throw new ProxyConfigError(
        `proxysigv4['${key}'].accountId: account ${source.accountId} is not in aws.accounts, and aws.accountDefaults is not set`,
      );
    }
    const earlier = seen.get(route.route);
    if (earlier !== undefined) {
      throw new ProxyConfigError(
        `proxysigv4['${key}']: duplicates route '${earlier}'`,
      );
    }
    seen.set(route.route, key);
    routes.push(route);
  }
  return { routes };
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readRoute(
  section: JsonObject,
  key: string,
  allowUnauthenticatedRequests: boolean,
): RouteConfig {
  const where = `proxysigv4['${key}']`;
  const fail = (field: string | undefined, message: string): never => {
    throw new ProxyConfigError(
      `${where}${field ? `.${field}` : ''}: ${message}`,
    );
  };
  const raw = section[key];
  let fields: JsonObject | undefined;
  let targetText: string;
  if (typeof raw === 'string') {
    targetText = raw;
  } else if (isObject(raw)) {
    fields = raw;
    for (const field of Object.keys(fields)) {
      if (!ROUTE_FIELDS.has(field)) {
        fail(field, `unknown field; known fields are ${[...ROUTE_FIELDS].join(', ')}`);
      }
    }
    const target = fields.target;
    if (typeof target !== 'string') {
      fail('target', 'is required and must be a URL string');
    }
    targetText = target as string;
  } else {
    return fail(undefined, 'must be a target URL or an object with a target');
  }

  const routePath = key.length > 1 ? key.replace(/\/+$/, '') : '';
  if (/[?#%\s\\]/.test(key) || routePath.split('/').slice(1).some(s => s === '' || s === '.' || s === '..')) {
    fail(undefined, 'route keys are plain paths such as /reports, without query, encoding, empty or dot segments');
  }

  const str = (field: string): string | undefined => {
    const v = fields?.[field]; // JSON has no undefined: undefined means not set
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.trim() === '') fail(field, 'must be a non-empty string');
    return (v as string).trim();
  };
  const num = (field: string, min: number, max: number): number | undefined => {
    const v = fields?.[field]; // JSON has no undefined: undefined means not set
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      fail(field, `must be a whole number from ${min} to ${max}`);
    }
    return v as number;
  };
  const bool = (field: string): boolean | undefined => {
    const v = fields?.[field]; // JSON has no undefined: undefined means not set
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') fail(field, 'must be true or false');
    return v as boolean;
  };
  const strList = (field: string): string[] | undefined => {
    const v = fields?.[field]; // JSON has no undefined: undefined means not set
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some(x => typeof x !== 'string')) {
      fail(field, 'must be a list of strings');
    }
    return v as string[];
  };

  // Target URL
  let url: URL;
  try {
    url = new URL(targetText);
  } catch {
    return fail('target', `'${targetText}' is not a valid URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    fail('target', `scheme '${url.protocol}' is not supported; use https (or http)`);
  }
  if (url.username || url.password) {
    fail('target', 'must not contain credentials (user:password@)');
  }
  if (url.search || targetText.includes('?')) {
    fail('target', 'must not contain a query string');
  }
  if (url.hash || targetText.includes('#')) {
    fail('target', 'must not contain a fragment');
  }
  // Service and region
  const derived = hostInfo(url.hostname);
  const service = str('service') ?? derived.service;
  const region = str('region') ?? derived.region;
  if (!service) {
    fail('service', `cannot be derived from host '${url.hostname}'; set service (e.g. s3, execute-api, es)`);
  }
  if (!region) {
    fail('region', `cannot be derived from host '${url.hostname}'; set region (e.g. eu-west-1)`);
  }
  if (!SERVICE_NAME.test(service!)) {
    fail('service', `'${service}' is not a valid signing name`);
  }
  if (!REGION_NAME.test(region!)) {
    fail('region', `'${region}' is not a valid AWS region`);
  }
  const s3 = service === 's3' || service === 's3-object-lambda';
  let basePath: string;
  try {
    // In the same canonical form as request paths (S3: encoded once, never normalised).
    basePath = canonicalPath(url.pathname, s3);
  } catch (e) {
    return fail('target', `path: ${(e as Error).message}`);
  }

  // Credentials
  const accountId = str('accountId');
  if (accountId !== undefined && !ACCOUNT_ID.test(accountId)) {
    fail('accountId', 'must be a 12-digit AWS account id (quote it in YAML)');
  }
  const roleArn = str('roleArn');
  const roleSessionName = str('roleSessionName');
  if (roleSessionName !== undefined && roleArn === undefined) {
    fail('roleSessionName', 'is only used together with roleArn');
  }
  if (roleArn !== undefined) {
    fail('roleArn', 'needs the STS support, which this version does not have yet; use accountId with aws.accounts in the meantime');
  }
  const credentialSource: CredentialSourceConfig = accountId
    ? { kind: 'account', accountId }
    : { kind: 'main' };

  let credentialsPolicy: CredentialsPolicy = allowUnauthenticatedRequests
    ? 'dangerously-allow-unauthenticated'
    : 'require';
  const credentials = str('credentials');
  if (credentials !== undefined) {
    if (credentials !== 'require' && credentials !== 'dangerously-allow-unauthenticated') {
      fail('credentials', `'${credentials}' is not one of require, dangerously-allow-unauthenticated`);
    }
    credentialsPolicy = credentials as CredentialsPolicy;
  }

  // Methods and headers
  let allowedMethods: ReadonlySet<string> = METHODS;
  const methods = strList('allowedMethods');
  if (methods) {
    const chosen = new Set<string>();
    for (const m of methods) {
      const upper = m.trim().toUpperCase();
      if (!METHODS.has(upper)) {
        fail('allowedMethods', `'${m}' is not one of ${[...METHODS].join(', ')}`);
      }
      chosen.add(upper);
    }
    allowedMethods = chosen;
    if (chosen.size === 0) {
      fail('allowedMethods', 'must list at least one method (leave it out to allow all)');
    }
  }
  const headerSet = (field: string, never: (name: string) => boolean) => {
    const set = new Set<string>();
    for (const h of strList(field) ?? []) {
      const name = h.trim().toLowerCase();
      if (!HEADER_NAME.test(name)) {
        fail(field, `'${h}' is not a valid header name`);
      }
      if (never(name)) {
        fail(field, `'${h}' can never be forwarded (credentials, cookies, hop-by-hop or signing headers)`);
      }
      set.add(name);
    }
    return set;
  };
  const allowedHeaders = headerSet('allowedHeaders', isNeverForwardedRequestHeader);
  const allowedResponseHeaders = headerSet('allowedResponseHeaders', isNeverForwardedResponseHeader);

  // Bodies and time
  const maxBodySize = num('maxBodySize', 0, 2 ** 31 - 1) ?? DEFAULT_MAX_BODY_SIZE;
  const unsignedPayload = bool('unsignedPayload') ?? false;
  if (unsignedPayload && !s3) {
    fail('unsignedPayload', `is only accepted by S3; this route signs for '${service}'`);
  }
  const timeout = num('timeout', 1, 3_600_000) ?? DEFAULT_TIMEOUT_MS;

  const port = url.port ? Number(url.port) : undefined;
  return {
    route: routePath,
    target: targetText,
    protocol: url.protocol as 'http:' | 'https:',
    hostname: url.hostname,
    port,
    hostHeader: url.host,
    basePath,
    service: service!,
    region: region!,
    s3,
    credentialSource,
    credentialsPolicy,
    allowedMethods,
    allowedHeaders,
    allowedResponseHeaders,
    maxBodySize,
    unsignedPayload,
    timeout,
  };
}

import { Config } from '@backstage/config';
import { JsonObject, JsonValue } from '@backstage/types';
import { hostInfo } from '../endpoint/hostInfo';
import { canonicalPath } from '../endpoint/canonical';
import { isNeverForwardedRequestHeader } from '../forwarding/requestHeaders';
import { isNeverForwardedResponseHeader } from '../forwarding/responseHeaders';
import { OPERATION_PATTERN } from '../access/operations';
import {
  BaseCredentialSource,
  CredentialSourceConfig,
  CredentialsPolicy,
  DEFAULT_MAX_BODY_SIZE,
  DEFAULT_MAX_CALLERS,
  DEFAULT_MAX_EXPIRES_IN,
  DEFAULT_MAX_UPLOAD_SIZE,
  DEFAULT_PRESIGN_METHODS,
  DEFAULT_MAX_GROUP_TAGS,
  DEFAULT_ROLE_SESSION_NAME,
  DEFAULT_TIMEOUT_MS,
  PRESIGN_METHODS,
  PRESIGN_PATH,
  PresignConfig,
  ROUTE_CHECK_PATH,
  RouteConfig,
  SessionPerCaller,
  StsTarget,
} from './types';

/** A configuration problem; the message names the route and the field. */
export class ProxyConfigError extends Error {
  name = 'ProxyConfigError';
}

/** The settings of the `proxysigv4` section besides its routes. */
export const TOP_LEVEL_KEYS: ReadonlySet<string> = new Set([
  'allowUnauthenticatedRequests',
  'checkCredentialsOnStart',
]);

/** The fields of an expanded route. */
export const ROUTE_FIELDS: ReadonlySet<string> = new Set([
  'target',
  'service',
  'region',
  'accountId',
  'roleArn',
  'roleSessionName',
  'sessionPerCaller',
  'externalId',
  'durationSeconds',
  'stsRegion',
  'stsEndpoint',
  'credentialsEndpoint',
  'credentials',
  'permission',
  'allowedOperations',
  'allowedMethods',
  'allowedHeaders',
  'allowedResponseHeaders',
  'maxBodySize',
  'maxUploadSize',
  'unsignedPayload',
  'presign',
  'timeout',
  'debug',
  'dangerouslyAllowHttp',
]);

/**
 * Signing names of the S3 API, whose path, payload, query and permission rules apply: S3,
 * S3 Object Lambda, and S3 Express One Zone's directory buckets (`s3express`, whose
 * CreateSession, `GET /?session`, is then refused like S3's).
 */
const S3_SERVICES: ReadonlySet<string> = new Set(['s3', 's3-object-lambda', 's3express']);

/**
 * Services whose APIs say what a request does by method and path (REST): an X-Amz-Target or
 * an Action parameter means nothing to them, so `allowedOperations` cannot restrict them.
 */
const REST_SERVICES: ReadonlySet<string> = new Set([
  's3',
  's3-object-lambda',
  's3express',
  'execute-api',
  'lambda',
  'es',
  'aoss',
  'appsync',
]);

const CREDENTIALS_POLICIES: readonly CredentialsPolicy[] = [
  'require',
  'user-cookie',
  'dangerously-allow-unauthenticated',
];

/** A Backstage permission name, e.g. `proxy-sigv4.reports.use`. */
const PERMISSION_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/** The methods a route can allow; also the default. */
export const METHODS: ReadonlySet<string> = new Set([
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
/** An IAM role ARN in any partition, with an optional path. */
const ROLE_ARN =
  /^arn:aws(?:-[a-z]+)*:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
/** STS's own rules for these AssumeRole parameters. */
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const ROLE_SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
/**
 * The route fields whose value must match a pattern. config.d.ts carries the same patterns
 * (as `@pattern`), so that `backstage-cli config:check --strict` refuses what the reader refuses.
 */
export const FIELD_PATTERNS: Readonly<Record<string, RegExp>> = {
  service: SERVICE_NAME,
  region: REGION_NAME,
  stsRegion: REGION_NAME,
  accountId: ACCOUNT_ID,
  roleArn: ROLE_ARN,
  externalId: EXTERNAL_ID,
  roleSessionName: ROLE_SESSION_NAME,
  permission: PERMISSION_NAME,
};
/** The number fields: whole numbers from the first to the second, both included. */
export const FIELD_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  durationSeconds: [900, 43200],
  maxBodySize: [0, 2 ** 31 - 1],
  // One PUT (PutObject or UploadPart) is at most 5 GiB.
  maxUploadSize: [0, 5 * 1024 ** 3],
  // SigV4 query authentication: at most 7 days.
  'presign.maxExpiresIn': [1, 604_800],
  timeout: [1, 3_600_000],
  'sessionPerCaller.maxCallers': [1, 100_000],
  // 50 session tags at most, less the caller's own five (caller, type, user, actor, groups):
  // sessionTags.ts's MAX_GROUP_TAGS_LIMIT (a test keeps them equal).
  'sessionPerCaller.maxGroupTags': [0, 45],
};
/** The fields of a route's `presign` object. */
export const PRESIGN_FIELDS: ReadonlySet<string> = new Set(['methods', 'maxExpiresIn']);
/** The fields of a route's `sessionPerCaller` object. */
export const SESSION_PER_CALLER_FIELDS: ReadonlySet<string> = new Set([
  'sourceIdentity',
  'sessionTags',
  'transitiveTags',
  'maxCallers',
  'maxGroupTags',
]);
/** The fields of a route's `credentialsEndpoint`. */
export const CREDENTIALS_ENDPOINT_FIELDS: ReadonlySet<string> = new Set(['url', 'headers']);

/** The validated `proxysigv4` section. */
export interface ProxySigV4Config {
  routes: RouteConfig[];
  /** Check each route's credentials in the background at start, and log the result. */
  checkCredentialsOnStart: boolean;
}

/**
 * Reads and validates `proxysigv4`. Throws a {@link ProxyConfigError} naming the route and
 * field for anything invalid or unknown: nothing is silently ignored.
 */
export function readProxyConfig(
  rootConfig: Config,
  moduleRoutes: Readonly<Record<string, JsonValue>> = {},
): ProxySigV4Config {
  // Route keys contain '/', which Config's getters refuse: read the section as plain JSON.
  const configured = rootConfig.getOptional('proxysigv4');
  if (configured === undefined && Object.keys(moduleRoutes).length === 0) {
    return { routes: [], checkCredentialsOnStart: true };
  }
  if (configured !== undefined && !isObject(configured)) {
    throw new ProxyConfigError('proxysigv4 must be a map of routes');
  }
  const section = mergeModuleRoutes(configured ?? {}, moduleRoutes);
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
  let checkCredentialsOnStart = true;
  if ('checkCredentialsOnStart' in section) {
    const value = section.checkCredentialsOnStart;
    if (typeof value !== 'boolean') {
      throw new ProxyConfigError(
        'proxysigv4.checkCredentialsOnStart must be true or false',
      );
    }
    checkCredentialsOnStart = value;
  }

  // integration-aws-node resolves an account it does not know by asking STS who the main
  // account is; refuse that at start instead of calling STS on a request.
  const knownAccounts = new Set(
    (rootConfig.getOptionalConfigArray('aws.accounts') ?? []).map(a =>
      a.getString('accountId'),
    ),
  );
  // Only accountDefaults.roleName makes the integration resolve an unlisted account itself.
  const hasAccountDefaults = rootConfig.has('aws.accountDefaults.roleName');

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
    const fromModule = Object.prototype.hasOwnProperty.call(moduleRoutes, key);
    const route = readRoute(
      section,
      key,
      // The section's switch opens configured routes only: a module's route is open only
      // if it says so itself (credentials: dangerously-allow-unauthenticated).
      fromModule ? false : allowUnauthenticated,
      fromModule ? `proxysigv4 route '${key}' (added by a backend module)` : undefined,
    );
    const credentialSource = route.credentialSource;
    const source =
      credentialSource.kind === 'role'
        ? credentialSource.source
        : credentialSource;
    if (
      source.kind === 'account' &&
      !knownAccounts.has(source.accountId) &&
      !hasAccountDefaults
    ) {
      throw new ProxyConfigError(
        `proxysigv4['${key}'].accountId: account ${source.accountId} is not in aws.accounts, and aws.accountDefaults.roleName is not set`,
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
  return { routes, checkCredentialsOnStart };
}

/**
 * The configured section with the routes backend modules added in code: each a route key
 * (beginning with `/`) that app-config does not have, in the same shape as a configured route.
 */
function mergeModuleRoutes(
  configured: JsonObject,
  moduleRoutes: Readonly<Record<string, JsonValue>>,
): JsonObject {
  for (const key of Object.keys(moduleRoutes)) {
    if (!key.startsWith('/')) {
      throw new ProxyConfigError(
        `proxysigv4 route '${key}' (added by a backend module): route keys must begin with '/'`,
      );
    }
    if (key in configured) {
      throw new ProxyConfigError(
        `proxysigv4 route '${key}' is both in app-config and added by a backend module; remove one of them`,
      );
    }
  }
  return { ...configured, ...moduleRoutes } as JsonObject;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readRoute(
  section: JsonObject,
  key: string,
  allowUnauthenticatedRequests: boolean,
  origin?: string,
): RouteConfig {
  const where = origin ?? `proxysigv4['${key}']`;
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
  // eslint-disable-next-line no-control-regex
  if (/[?#%\s\\\u0000-\u001f\u007f]/.test(key) || routePath.split('/').slice(1).some(s => s === '' || s === '.' || s === '..')) {
    fail(undefined, 'route keys are plain paths such as /reports, without query, encoding, empty or dot segments');
  }
  if (routePath === ROUTE_CHECK_PATH || routePath.startsWith(`${ROUTE_CHECK_PATH}/`)) {
    fail(undefined, `${ROUTE_CHECK_PATH} is reserved for the plugin's route check; choose another route key`);
  }
  if (routePath === PRESIGN_PATH || routePath.startsWith(`${PRESIGN_PATH}/`)) {
    fail(undefined, `${PRESIGN_PATH} is reserved for the plugin's presigned URLs; choose another route key`);
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
    return fail('target', invalidUrlMessage(targetText));
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    fail('target', `scheme '${url.protocol}' is not supported; use https (or http on loopback)`);
  }
  // Over plain http the signed requests (with the session token), the bodies and the answers
  // cross the network in clear, as STS and credentials endpoints may not (endpointUrl).
  const dangerouslyAllowHttp = bool('dangerouslyAllowHttp') ?? false;
  const clearText = url.protocol === 'http:' && !isLoopback(url.hostname);
  if (clearText && !dangerouslyAllowHttp) {
    fail('target', `plain http to '${url.hostname}' would carry every signed request, its session token, bodies and answers in clear; use https (plain http is accepted on loopback only: localhost, 127.0.0.0/8, [::1]), or, for a test endpoint on a private network (LocalStack in a container), set dangerouslyAllowHttp: true`);
  }
  if (dangerouslyAllowHttp && !clearText) {
    fail('dangerouslyAllowHttp', 'is only for an http target that is not on loopback; this target does not need it');
  }
  if (clearText && isAwsHost(url.hostname)) {
    fail('dangerouslyAllowHttp', `'${url.hostname}' is an AWS endpoint, which serves https: use https`);
  }
  if (url.username || url.password || authorityOf(targetText).includes('@')) {
    fail('target', 'must not contain credentials (user:password@)');
  }
  const written = writtenUrlProblem(targetText, url);
  if (written) {
    fail('target', written);
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
  const s3 = S3_SERVICES.has(service!);
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
  if (roleArn !== undefined && !ROLE_ARN.test(roleArn)) {
    fail('roleArn', `'${roleArn}' is not an IAM role ARN (arn:<partition>:iam::<12-digit account>:role/<name>)`);
  }
  const externalId = str('externalId');
  if (externalId !== undefined) {
    if (roleArn === undefined) fail('externalId', 'is only used together with roleArn');
    // Never echo it: the external id is a secret.
    if (!EXTERNAL_ID.test(externalId)) fail('externalId', 'must be 2 to 1224 characters of letters, digits and +=,.@:/-');
  }
  const roleSessionName = str('roleSessionName');
  if (roleSessionName !== undefined && !ROLE_SESSION_NAME.test(roleSessionName)) {
    fail('roleSessionName', 'must be 2 to 64 characters of letters, digits and +=,.@-');
  }
  const durationSeconds = num('durationSeconds', ...FIELD_RANGES.durationSeconds);
  const stsRegion = str('stsRegion');
  if (stsRegion !== undefined && !REGION_NAME.test(stsRegion)) {
    fail('stsRegion', `'${stsRegion}' is not a valid AWS region`);
  }
  const stsEndpoint = str('stsEndpoint');
  if (stsEndpoint !== undefined) {
    endpointUrl('stsEndpoint', stsEndpoint, fail, true);
  }
  const sts: StsTarget = {
    region: stsRegion ?? region!,
    endpoint: stsEndpoint?.replace(/\/+$/, ''),
  };
  const base: BaseCredentialSource = accountId
    ? { kind: 'account', accountId }
    : { kind: 'main' };

  let credentialSource: CredentialSourceConfig = base;
  const endpointConfig = fields?.credentialsEndpoint;
  if (endpointConfig !== undefined) {
    for (const unused of ['accountId', 'roleSessionName', 'durationSeconds']) {
      if (fields?.[unused] !== undefined) {
        fail(unused, 'is not used with credentialsEndpoint, which gets the credentials itself');
      }
    }
    credentialSource = {
      kind: 'endpoint',
      ...readCredentialsEndpoint(endpointConfig, fail),
      roleArn,
      externalId,
      region: region!,
      service: service!,
    };
  } else if (roleArn !== undefined) {
    credentialSource = {
      kind: 'role',
      roleArn,
      externalId,
      roleSessionName: roleSessionName ?? DEFAULT_ROLE_SESSION_NAME,
      durationSeconds,
      sts,
      source: base,
    };
  } else {
    for (const unused of ['roleSessionName', 'durationSeconds']) {
      if (fields?.[unused] !== undefined) fail(unused, 'is only used together with roleArn');
    }
  }

  const permission = str('permission');
  if (permission !== undefined && !PERMISSION_NAME.test(permission)) {
    fail('permission', `'${permission}' is not a permission name such as proxy-sigv4.reports.use (letters, digits, '.', '_', '-'; at most 200 characters)`);
  }
  const credentials = str('credentials');
  if (credentials !== undefined && !CREDENTIALS_POLICIES.includes(credentials as CredentialsPolicy)) {
    fail('credentials', `'${credentials}' is not one of ${CREDENTIALS_POLICIES.join(', ')}`);
  }
  if (permission !== undefined && credentials === 'dangerously-allow-unauthenticated') {
    fail('permission', 'needs callers with Backstage credentials; it cannot be used with credentials: dangerously-allow-unauthenticated');
  }
  // A route with a permission needs to know its caller, whatever allowUnauthenticatedRequests says.
  let credentialsPolicy: CredentialsPolicy =
    allowUnauthenticatedRequests && permission === undefined
      ? 'dangerously-allow-unauthenticated'
      : 'require';
  if (credentials !== undefined) {
    credentialsPolicy = credentials as CredentialsPolicy;
  }
  const sessionPerCaller = readSessionPerCaller(fields?.sessionPerCaller, fail);
  if (sessionPerCaller) {
    if (credentialSource.kind !== 'role' && credentialSource.kind !== 'endpoint') {
      fail('sessionPerCaller', 'needs roleArn or credentialsEndpoint: without a role there is no session to name the caller in');
    }
    if (credentialsPolicy === 'dangerously-allow-unauthenticated') {
      fail('sessionPerCaller', `needs callers with Backstage credentials to name; this route accepts unauthenticated requests (${credentials === undefined ? 'proxysigv4.allowUnauthenticatedRequests: true' : 'credentials: dangerously-allow-unauthenticated'})`);
    }
    if (roleSessionName !== undefined) {
      fail('roleSessionName', 'is set by sessionPerCaller (each session is named after its caller); remove roleSessionName');
    }
    credentialSource = { ...credentialSource, sessionPerCaller } as CredentialSourceConfig;
  }
  // Any site can make a signed-in browser send a GET with the cookie (<img src>). That is
  // harmless only where every GET reads: S3 (its GETs and HEADs are all reads, response-*
  // overrides included). A query-protocol API deletes on GET /?Action=DeleteQueue, and an
  // API Gateway API does whatever its author made GET do.
  if (credentialsPolicy === 'user-cookie' && !s3) {
    fail('credentials', `user-cookie is only accepted on S3 routes, where every GET and HEAD is a read; on '${service}' a GET can change things (GET /?Action=DeleteQueue), and any site can make a signed-in browser send one with the cookie. Use require and send a Backstage token`);
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
  const allowedOperations = readAllowedOperations(strList('allowedOperations'), service!, allowedHeaders, fail);
  const allowedResponseHeaders = headerSet('allowedResponseHeaders', isNeverForwardedResponseHeader);

  // Bodies and time
  const maxBodySize = num('maxBodySize', ...FIELD_RANGES.maxBodySize) ?? DEFAULT_MAX_BODY_SIZE;
  // A route that set maxBodySize as its cap keeps it as the cap of its streamed uploads too,
  // unless it says otherwise: an upgrade never widens what a configuration accepts.
  const maxUploadSize =
    num('maxUploadSize', ...FIELD_RANGES.maxUploadSize) ??
    (fields?.maxBodySize !== undefined ? maxBodySize : DEFAULT_MAX_UPLOAD_SIZE);
  if (fields?.maxUploadSize !== undefined && service !== 's3') {
    fail('maxUploadSize', `limits S3's chunk-signed uploads; this route signs for '${service}' (use maxBodySize)`);
  }
  if (maxUploadSize < maxBodySize) {
    fail('maxUploadSize', `(${maxUploadSize}) is below maxBodySize (${maxBodySize}): uploads up to maxBodySize are buffered and sent whole; lower maxBodySize too`);
  }
  const unsignedPayload = bool('unsignedPayload') ?? false;
  if (unsignedPayload && fields?.maxUploadSize !== undefined) {
    fail('maxUploadSize', 'limits chunk-signed uploads, and with unsignedPayload nothing is chunk-signed (streamed uploads have no limit of the plugin\'s own)');
  }
  if (unsignedPayload && !s3) {
    fail('unsignedPayload', `is only accepted by S3; this route signs for '${service}'`);
  }
  const presign = readPresign(fields?.presign, { service: service!, credentialsPolicy, allowedMethods }, fail);
  const timeout = num('timeout', ...FIELD_RANGES.timeout) ?? DEFAULT_TIMEOUT_MS;
  const debug = bool('debug') ?? false;

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
    sts,
    credentialsPolicy,
    permission,
    allowedMethods,
    allowedHeaders,
    allowedResponseHeaders,
    maxBodySize,
    maxUploadSize,
    unsignedPayload,
    timeout,
    debug,
    dangerouslyAllowHttp,
    ...(allowedOperations ? { allowedOperations } : {}),
    ...(presign ? { presign } : {}),
  };
}

/**
 * Reads `presign`: `true` (GET and HEAD, 300 s), or `{ methods, maxExpiresIn }`. Only on
 * S3 routes (presigned URLs are S3's way; their payload is UNSIGNED-PAYLOAD), only for
 * methods the route allows, and never on an open route: a presigned URL outlives the request
 * that made it, so someone must be named in the audit record for it.
 */
function readPresign(
  value: unknown,
  route: { service: string; credentialsPolicy: CredentialsPolicy; allowedMethods: ReadonlySet<string> },
  fail: Fail,
): PresignConfig | undefined {
  const field = 'presign';
  if (value === undefined || value === false) return undefined;
  if (value !== true && !isObject(value)) {
    return fail(field, 'must be true, false, or an object with methods and maxExpiresIn');
  }
  const given = value === true ? {} : value;
  for (const key of Object.keys(given)) {
    if (!PRESIGN_FIELDS.has(key)) {
      fail(`${field}.${key}`, `unknown field; known fields are ${[...PRESIGN_FIELDS].join(', ')}`);
    }
  }
  if (route.service !== 's3') {
    fail(field, `presigned URLs are S3's; this route signs for '${route.service}'`);
  }
  if (route.credentialsPolicy === 'dangerously-allow-unauthenticated') {
    fail(field, 'needs callers with Backstage credentials: a presigned URL outlives its request, and the audit record must name who asked for it; this route accepts unauthenticated requests');
  }
  let methods = DEFAULT_PRESIGN_METHODS;
  if (given.methods !== undefined) {
    if (!Array.isArray(given.methods) || given.methods.length === 0 || given.methods.some(m => typeof m !== 'string')) {
      fail(`${field}.methods`, `must be a list of some of ${[...PRESIGN_METHODS].join(', ')}`);
    }
    methods = (given.methods as string[]).map(m => m.trim().toUpperCase());
  }
  for (const method of methods) {
    if (!PRESIGN_METHODS.has(method)) {
      fail(`${field}.methods`, `'${method}' cannot be presigned; choose from ${[...PRESIGN_METHODS].join(', ')}`);
    }
    if (!route.allowedMethods.has(method)) {
      fail(`${field}.methods`, `'${method}' is not in the route's allowedMethods`);
    }
  }
  let maxExpiresIn = DEFAULT_MAX_EXPIRES_IN;
  if (given.maxExpiresIn !== undefined) {
    const [min, max] = FIELD_RANGES[`${field}.maxExpiresIn`];
    const v = given.maxExpiresIn;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      fail(`${field}.maxExpiresIn`, `must be a whole number of seconds from ${min} to ${max}`);
    }
    maxExpiresIn = v as number;
  }
  return { methods: new Set(methods), maxExpiresIn };
}

/**
 * Reads `allowedOperations`: names (`ListQueues`), prefixes (`Get*`) or `*`. Refused where
 * requests do not name their operation (REST APIs, S3), and with `smithy-protocol` forwarded,
 * with which an RPCv2 CBOR request names its operation in the path instead.
 */
function readAllowedOperations(
  list: string[] | undefined,
  service: string,
  allowedHeaders: ReadonlySet<string>,
  fail: Fail,
): readonly string[] | undefined {
  const field = 'allowedOperations';
  if (list === undefined) {
    return undefined;
  }
  if (REST_SERVICES.has(service)) {
    fail(field, `'${service}' requests say what they do by method and path, not by operation name (X-Amz-Target, Action); restrict them with allowedMethods and permission`);
  }
  const operations = list.map(o => o.trim());
  if (operations.length === 0) {
    fail(field, 'must list at least one operation (leave it out to allow all)');
  }
  for (const operation of operations) {
    if (!OPERATION_PATTERN.test(operation)) {
      fail(field, `'${operation}' is not an operation name (ListQueues), a prefix ending in * (Get*), or *`);
    }
  }
  if (allowedHeaders.has('smithy-protocol')) {
    fail(field, 'cannot be used with smithy-protocol in allowedHeaders: an RPCv2 request names its operation in the path');
  }
  return operations;
}

/** A host of AWS's own endpoints, all of which serve https. */
function isAwsHost(hostname: string): boolean {
  // Every partition's domains: aws, aws-cn, the European Sovereign Cloud, the ISO regions.
  return /(?:^|\.)(?:amazonaws\.com|amazonaws\.com\.cn|amazonaws\.eu|api\.aws|on\.aws|amazonwebservices\.com\.cn|c2s\.ic\.gov|sc2s\.sgov\.gov)$/i.test(
    hostname.replace(/\.+$/, ''),
  );
}

type Fail = (field: string | undefined, message: string) => never;

function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/** What follows `scheme://` up to the path, query or fragment ('' when not written so). */
function authorityOf(text: string): string {
  // Trimmed as URL trims it.
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/\\?#]*)/.exec(text.trim())?.[1] ?? '';
}

/**
 * Why `new URL` refused a URL, where that can be told: a port that is not 1 to 65535. The
 * URL is repeated without any `user:password@`.
 */
function invalidUrlMessage(text: string): string {
  const shown = text.replace(/^(\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/\\?#]*@/, '$1***@');
  const port = /:([^:\]@]*)$/.exec(authorityOf(text))?.[1];
  if (port && !(/^\d+$/.test(port) && Number(port) <= 65535)) {
    return `'${shown}' is not a valid URL: port '${port}' is not a number from 1 to 65535`;
  }
  return `'${shown}' is not a valid URL`;
}

/**
 * What `new URL` would silently repair in how a URL is written, so that the URL used is not
 * the one a reader of the configuration sees: a missing or extra slash after the scheme, a
 * backslash (read as '/'), port 0, and dot segments in the path (resolved away).
 */
function writtenUrlProblem(written: string, url: URL): string | undefined {
  const text = written.trim(); // as URL trims it
  if (authorityOf(text) === '') {
    return `must be written as ${url.protocol}//host[:port][/path]`;
  }
  if (text.includes('\\')) {
    return "must not contain a backslash (a URL reads it as '/')";
  }
  if (url.port === '0') {
    return 'port 0 cannot be connected to; use a port from 1 to 65535';
  }
  const path = text.replace(/^[^:]*:\/\/[^/?#]*/, '').replace(/[?#].*$/, '');
  if (path.split('/').some(segment => /^(?:\.|%2e){1,2}$/i.test(segment))) {
    return 'path must not contain dot segments (. or ..), which a URL resolves away';
  }
  return undefined;
}

/**
 * Checks the URL of an endpoint that credentials pass through: https, or plain http only on
 * loopback; no user:password@, query or fragment; `originOnly` refuses a path too.
 */
function endpointUrl(field: string, text: string, fail: Fail, originOnly: boolean): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(field, invalidUrlMessage(text));
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    fail(field, 'must be an https URL (plain http only on loopback: localhost, 127.0.0.0/8, [::1])');
  }
  if (url.username || url.password || authorityOf(text).includes('@')) {
    fail(field, 'must not contain credentials (user:password@); put them in headers');
  }
  const written = writtenUrlProblem(text, url);
  if (written) {
    fail(field, written);
  }
  if (url.search || url.hash || text.includes('?') || text.includes('#')) {
    fail(field, 'must not contain a query string or fragment');
  }
  if (originOnly && url.pathname !== '/') {
    fail(field, 'must be a scheme, host and port only, without a path');
  }
  return url;
}

/**
 * Reads `sessionPerCaller`: `true` (SourceIdentity and session tags), `false` (off), or an
 * object choosing each part. With both parts off, each caller still gets a session of their
 * own, named after them (no extra trust-policy permission needed).
 */
function readSessionPerCaller(value: unknown, fail: Fail): SessionPerCaller | undefined {
  const field = 'sessionPerCaller';
  if (value === undefined || value === false) return undefined;
  const defaults: SessionPerCaller = {
    sourceIdentity: true,
    sessionTags: true,
    transitiveTags: false,
    maxCallers: DEFAULT_MAX_CALLERS,
    maxGroupTags: DEFAULT_MAX_GROUP_TAGS,
  };
  if (value === true) return defaults;
  if (!isObject(value)) {
    return fail(field, 'must be true, false, or an object with sourceIdentity, sessionTags, transitiveTags, maxCallers, maxGroupTags');
  }
  for (const key of Object.keys(value)) {
    if (!SESSION_PER_CALLER_FIELDS.has(key)) {
      fail(`${field}.${key}`, `unknown field; known fields are ${[...SESSION_PER_CALLER_FIELDS].join(', ')}`);
    }
  }
  const flag = (key: 'sourceIdentity' | 'sessionTags' | 'transitiveTags', fallback: boolean) => {
    const v = value[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') fail(`${field}.${key}`, 'must be true or false');
    return v as boolean;
  };
  const whole = (key: 'maxCallers' | 'maxGroupTags', fallback: number) => {
    const v = value[key];
    if (v === undefined) return fallback;
    const [min, max] = FIELD_RANGES[`${field}.${key}`];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      fail(`${field}.${key}`, `must be a whole number from ${min} to ${max}`);
    }
    return v as number;
  };
  // An object written out means what it says: a part left out is on, as with `true`.
  const chosen: SessionPerCaller = {
    sourceIdentity: flag('sourceIdentity', true),
    sessionTags: flag('sessionTags', true),
    transitiveTags: flag('transitiveTags', false),
    maxCallers: whole('maxCallers', DEFAULT_MAX_CALLERS),
    maxGroupTags: whole('maxGroupTags', DEFAULT_MAX_GROUP_TAGS),
  };
  if (chosen.transitiveTags && !chosen.sessionTags) {
    fail(`${field}.transitiveTags`, 'needs sessionTags: there are no tags to pass on');
  }
  return chosen;
}

/** Reads `credentialsEndpoint: { url, headers }`. Header values are secrets: never echoed. */
function readCredentialsEndpoint(value: unknown, fail: Fail) {
  const field = 'credentialsEndpoint';
  if (!isObject(value)) {
    return fail(field, 'must be an object with url and, optionally, headers');
  }
  for (const key of Object.keys(value)) {
    if (!CREDENTIALS_ENDPOINT_FIELDS.has(key)) {
      fail(`${field}.${key}`, 'unknown field; known fields are url, headers');
    }
  }
  if (typeof value.url !== 'string' || value.url.trim() === '') {
    fail(`${field}.url`, 'is required and must be a URL string');
  }
  const url = endpointUrl(`${field}.url`, (value.url as string).trim(), fail, false);
  const headers: Record<string, string> = {};
  if (value.headers !== undefined) {
    if (!isObject(value.headers)) {
      fail(`${field}.headers`, 'must be a map of header names to values');
    }
    for (const [name, headerValue] of Object.entries(value.headers as JsonObject)) {
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(lower)) {
        fail(`${field}.headers`, `'${name}' is not a valid header name`);
      }
      if (['host', 'content-type', 'content-length', 'connection', 'transfer-encoding'].includes(lower)) {
        fail(`${field}.headers`, `'${name}' is set by the plugin`);
      }
      if (typeof headerValue !== 'string' || /[\r\n\0]/.test(headerValue) || !/^[\x20-\x7e\t]*$/.test(headerValue)) {
        fail(`${field}.headers.${name}`, 'must be a string of printable ASCII on one line');
      }
      headers[lower] = headerValue as string;
    }
  }
  return { url: url.href, headers };
}

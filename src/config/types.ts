/**
 * Who may call a route: `require`, a Backstage user or service token; `user-cookie`, also
 * the Backstage user cookie, for GET and HEAD (S3 routes only); `dangerously-allow-unauthenticated`, anyone.
 */
export type CredentialsPolicy =
  | 'require'
  | 'user-cookie'
  | 'dangerously-allow-unauthenticated';

/** Credentials that the plugin gets without STS: the main account's, or an `aws.accounts` entry's. */
export type BaseCredentialSource =
  | { kind: 'main' }
  | { kind: 'account'; accountId: string };

/** The STS endpoint a route uses for AssumeRole and for its identity check. */
export interface StsTarget {
  /** Region of the regional STS endpoint (default: the route's region). */
  region: string;
  /** An explicit endpoint URL (VPC endpoint, FIPS, tests), or undefined for the regional one. */
  endpoint?: string;
}

/** A self-hosted credentials endpoint (Nango style) and what a route asks it for. */
export interface CredentialsEndpointSource {
  /** The endpoint's URL (https, or http on loopback). */
  url: string;
  /** Headers sent with every call, e.g. an API key. Secret: never logged or echoed. */
  headers: Record<string, string>;
  roleArn?: string;
  externalId?: string;
  /** The route's signing region and service, sent in the request body. */
  region: string;
  service: string;
}

/**
 * `sessionPerCaller`: one role session per Backstage caller, named after the caller
 * (role session name and, with `sourceIdentity`, SourceIdentity), with session tags that
 * name the caller and, for users, their groups.
 */
export interface SessionPerCaller {
  /** Set SourceIdentity to the caller's name (needs sts:SetSourceIdentity in the trust policy). */
  sourceIdentity: boolean;
  /** Send session tags naming the caller and their groups (needs sts:TagSession). */
  sessionTags: boolean;
  /** Make the session tags transitive, so that they pass through role chaining. */
  transitiveTags: boolean;
  /** The most sessions kept (about one per caller); the least recently used is dropped. */
  maxCallers: number;
  /** The most group tags (`backstage-group-N`) per session; more groups are left out. */
  maxGroupTags: number;
}

export const DEFAULT_MAX_CALLERS = 1000;
export const DEFAULT_MAX_GROUP_TAGS = 40;

/** An assumed role: AssumeRole with the main account's or `accountId`'s credentials. */
export interface RoleCredentialSource {
  kind: 'role';
  roleArn: string;
  externalId?: string;
  /** The session name; with `sessionPerCaller`, each caller's name replaces it. */
  roleSessionName: string;
  durationSeconds?: number;
  sts: StsTarget;
  /** The credentials that assume the role: the main account or `accountId`'s. */
  source: BaseCredentialSource;
  sessionPerCaller?: SessionPerCaller;
}

/** A self-hosted credentials endpoint as a route's credential source. */
export type EndpointCredentialSource = { kind: 'endpoint' } & CredentialsEndpointSource & {
  /** With it, each call names the caller, and the credentials are cached per caller. */
  sessionPerCaller?: SessionPerCaller;
};

/** Where a route's AWS credentials come from. */
export type CredentialSourceConfig =
  | BaseCredentialSource
  | RoleCredentialSource
  | EndpointCredentialSource;

/** One proxy route, validated and normalised at start. */
export interface RouteConfig {
  /** Route key as configured, without trailing slash, e.g. `/reports`. */
  route: string;
  /** The configured target, for logs and errors. */
  target: string;
  protocol: 'http:' | 'https:';
  hostname: string;
  /** Explicit port, or undefined for the scheme's default. */
  port?: number;
  /** The value of the Host header: hostname plus a non-default port. */
  hostHeader: string;
  /** Target path in canonical wire form ('/' when the target has none). */
  basePath: string;
  service: string;
  region: string;
  /** S3 path, payload, query and permission rules apply (service `s3`, `s3-object-lambda` or `s3express`). */
  s3: boolean;
  credentialSource: CredentialSourceConfig;
  /** The STS endpoint for this route's identity check (and AssumeRole). */
  sts: StsTarget;
  credentialsPolicy: CredentialsPolicy;
  /**
   * Name of the Backstage permission a caller must be granted to use the route, or
   * undefined for none.
   */
  permission?: string;
  /**
   * The operations a query- or JSON-protocol route accepts (`ListQueues`, `Get*`, `*`), or
   * undefined when the route does not check operations. When set, every request must name
   * one operation (X-Amz-Target, or Action in the query) and the route's permission is
   * checked with the action of the operation's verb.
   */
  allowedOperations?: readonly string[];
  /** Upper-case methods the route accepts (default: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS). */
  allowedMethods: ReadonlySet<string>;
  /** Lower-case names added to the default request header allowlist. */
  allowedHeaders: ReadonlySet<string>;
  /** Lower-case names added to the default response header allowlist. */
  allowedResponseHeaders: ReadonlySet<string>;
  maxBodySize: number;
  /**
   * S3: the largest upload sent chunk-signed as it arrives (a PutObject or UploadPart with a
   * Content-Length above `maxBodySize`); larger is a 413 before anything is sent.
   */
  maxUploadSize: number;
  unsignedPayload: boolean;
  /** Presigned URLs for this route (S3 only), or undefined when off. */
  presign?: PresignConfig;
  timeout: number;
  /** Log each request's canonical request and string to sign (never the secret). */
  debug: boolean;
  /** The operator allowed a plain-http target off loopback (warned about at start). */
  dangerouslyAllowHttp: boolean;
}

/** What a route lets its callers presign. */
export interface PresignConfig {
  /** Upper-case methods that may be presigned: some of GET, HEAD, PUT, DELETE. */
  methods: ReadonlySet<string>;
  /** The longest lifetime of a presigned URL, in seconds. */
  maxExpiresIn: number;
}

/** The methods a presigned URL can be for. */
export const PRESIGN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);
export const DEFAULT_PRESIGN_METHODS: readonly string[] = ['GET', 'HEAD'];
export const DEFAULT_MAX_EXPIRES_IN = 300;

export const DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024;
/** S3's largest single PUT: 5 GiB. */
export const DEFAULT_MAX_UPLOAD_SIZE = 5 * 1024 ** 3;
export const DEFAULT_TIMEOUT_MS = 30_000;

/** The session name used for AssumeRole when a route sets none. */
export const DEFAULT_ROLE_SESSION_NAME = 'backstage-proxy-sigv4';

/**
 * The plugin's reserved path, answered before any route: the route check. No route may be
 * configured at or under it.
 */
export const ROUTE_CHECK_PATH = '/_routes';

/** The plugin's reserved path for presigned URLs (see service/presign). */
export const PRESIGN_PATH = '/_presign';

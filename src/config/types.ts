/** How a route treats callers without Backstage credentials. */
export type CredentialsPolicy = 'require' | 'dangerously-allow-unauthenticated';

/** Where a route's AWS credentials come from. The seam that STS support plugs into. */
export type CredentialSourceConfig =
  | { kind: 'main' }
  | { kind: 'account'; accountId: string }
  | {
      kind: 'role';
      roleArn: string;
      roleSessionName?: string;
      /** The credentials that assume the role: the main account or `accountId`'s. */
      source: { kind: 'main' } | { kind: 'account'; accountId: string };
    };

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
  /** S3 path and payload rules apply (service `s3` or `s3-object-lambda`). */
  s3: boolean;
  credentialSource: CredentialSourceConfig;
  credentialsPolicy: CredentialsPolicy;
  /** Upper-case methods the route accepts (default: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS). */
  allowedMethods: ReadonlySet<string>;
  /** Lower-case names added to the default request header allowlist. */
  allowedHeaders: ReadonlySet<string>;
  /** Lower-case names added to the default response header allowlist. */
  allowedResponseHeaders: ReadonlySet<string>;
  maxBodySize: number;
  unsignedPayload: boolean;
  timeout: number;
}

export const DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024;
export const DEFAULT_TIMEOUT_MS = 30_000;

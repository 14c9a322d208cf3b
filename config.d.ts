export interface Config {
  /**
   * SigV4 proxy routes, served under `/api/proxy-sigv4`. Each key beginning with `/` is a
   * route; its value is the target URL (short form) or an object (expanded form).
   * Requests to `/api/proxy-sigv4/<route><rest>?<query>` are signed with AWS Signature
   * Version 4 and sent to `<target><rest>?<query>`.
   *
   * @visibility backend
   */
  proxysigv4?: {
    /**
     * Compatibility with `@segment/backstage-plugin-proxy-sigv4-backend`: `true` lets every
     * route that does not set `credentials` accept requests without Backstage credentials
     * (logged as a warning). Default `false`: every route requires a Backstage user or
     * service token.
     *
     * @visibility backend
     */
    allowUnauthenticatedRequests?: boolean;

    /**
     * A route. The key begins with `/` (for example `/reports`); the longest matching key
     * wins, and a key matches only at a segment boundary.
     *
     * @visibility backend
     */
    [route: string]:
      | undefined
      | boolean
      | string
      | {
          /**
           * The upstream URL, `https://host[:port][/base/path]`. No credentials, query or
           * fragment. The service and region are derived from the host when it is an AWS
           * endpoint.
           *
           * @visibility backend
           */
          target: string;
          /**
           * The SigV4 signing name, e.g. `s3`, `execute-api`, `es`, `aoss`, `lambda`,
           * `bedrock`. Overrides what the host says; required when the host is not an AWS
           * endpoint (custom domain, VPC endpoint alias, localhost).
           *
           * @visibility backend
           */
          service?: string;
          /**
           * The signing region, e.g. `eu-west-1`. Overrides what the host says; required
           * when the host does not include it.
           *
           * @visibility backend
           */
          region?: string;
          /**
           * Sign with the credentials of this account from `aws.accounts`
           * (`@backstage/integration-aws-node`). Default: the main account, which falls back
           * to the AWS SDK default credential chain.
           *
           * @visibility backend
           */
          accountId?: string;
          /**
           * IAM role to assume for this route (accepted for Segment compatibility; needs
           * the STS support of a later version and is rejected at start until then).
           *
           * @visibility backend
           */
          roleArn?: string;
          /**
           * Session name for `roleArn` (Segment compatibility; used with `roleArn`).
           *
           * @visibility backend
           */
          roleSessionName?: string;
          /**
           * Who may call the route. `require` (default): a Backstage user or service token.
           * `dangerously-allow-unauthenticated`: anyone who can reach the backend, logged as
           * a warning at start.
           *
           * @visibility backend
           */
          credentials?: 'require' | 'dangerously-allow-unauthenticated';
          /**
           * HTTP methods the route accepts (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS).
           * Others get 405. Default: all of these seven.
           *
           * @visibility backend
           */
          allowedMethods?: string[];
          /**
           * Request headers forwarded in addition to the default allowlist, and the S3
           * headers that need opting in (x-amz-copy-source*, x-amz-grant-*,
           * x-amz-website-redirect-location). Authorization, cookies, hop-by-hop, proxy-*,
           * x-forwarded-* and the signing headers can never be added.
           *
           * @visibility backend
           */
          allowedHeaders?: string[];
          /**
           * Response headers passed back in addition to the default allowlist. Set-Cookie
           * and hop-by-hop headers can never be added.
           *
           * @visibility backend
           */
          allowedResponseHeaders?: string[];
          /**
           * The largest request body, in bytes, that is buffered to be hashed for the
           * signature. A larger body gets 413 before anything is sent upstream.
           * Default 10485760 (10 MiB).
           *
           * @visibility backend
           */
          maxBodySize?: number;
          /**
           * S3 only: stream request bodies without buffering, signed with
           * `x-amz-content-sha256: UNSIGNED-PAYLOAD`; no size limit. Default false.
           *
           * @visibility backend
           */
          unsignedPayload?: boolean;
          /**
           * Milliseconds to wait for the upstream's response headers (without upload
           * progress) before answering 504. Default 30000.
           *
           * @visibility backend
           */
          timeout?: number;
        };
  };
}

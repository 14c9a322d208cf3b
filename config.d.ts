export interface Config {
  /**
   * SigV4 proxy routes, served under `/api/proxy-sigv4`. Each key beginning with `/` is a
   * route; its value is the target URL (short form) or an object (expanded form).
   * Requests to `/api/proxy-sigv4/<route><rest>?<query>` are signed with AWS Signature
   * Version 4 and sent to `<target><rest>?<query>`.
   *
   * @visibility backend
   * @propertyNames {"anyOf": [{"enum": ["allowUnauthenticatedRequests", "checkCredentialsOnStart"]}, {"pattern": "^/"}]}
   */
  proxysigv4?: {
    /**
     * Compatibility with `@segment/backstage-plugin-proxy-sigv4-backend`: `true` lets every
     * route that sets neither `credentials` nor `permission` accept requests without Backstage credentials
     * (logged as a warning). Default `false`: every route requires a Backstage user or
     * service token.
     *
     * @visibility backend
     */
    allowUnauthenticatedRequests?: boolean;

    /**
     * At start, check every route's AWS credentials in the background
     * (sts:GetCallerIdentity through the route's STS endpoint) and log, once per route, the
     * identity it signs as or why it cannot sign. Never delays or stops the start.
     * Default `true`.
     *
     * @visibility backend
     */
    checkCredentialsOnStart?: boolean;

    // Route keys are arbitrary paths, so they can only be an index signature. It sits in the
    // same object as the named settings above, which is why its value type also admits
    // `boolean` and `undefined` (TypeScript requires every named property to fit the index
    // signature); the plugin itself refuses anything but a URL string or a route object
    // under a `/` key. Do not split this into an intersection of two object types: the
    // schema generated from an intersection (checked with @backstage/config-loader 1.11)
    // neither validates the route fields nor marks `externalId` and
    // `credentialsEndpoint.headers` as secret.
    //
    // The tags below make `backstage-cli config:check` refuse what the plugin would refuse at
    // start: `@if`/`@then` an unknown field in an expanded route (on the union, `propertyNames`
    // alone would make Ajv warn in every backend's log) and `@else` a short form that is not a
    // URL, `@propertyNames` on the section an unknown setting, each `@pattern` a malformed
    // value and `@minimum`/`@maximum`/`@multipleOf` a number out of range. Backstage validates
    // with Ajv's `coerceTypes`, so a number passes a string field unless its pattern refuses
    // it: the patterns and ranges are the plugin's own (src/config/readRoutes.ts;
    // configSchema.test.ts keeps them equal), with the surrounding spaces the plugin trims,
    // and each also accepts `x`, what `config:check --lax` puts in place of an unset
    // environment variable (for a whole value, and for a role ARN's account id), so that a
    // configuration that takes them from the environment passes `--lax` (the plugin itself
    // refuses `x` at start). Backstage reports these errors only with `config:check --strict`.
    /**
     * A route. The key begins with `/` (for example `/reports`); the longest matching key
     * wins, and a key matches only at a segment boundary. `/_routes` and keys under it are
     * reserved for the route check.
     *
     * @visibility backend
     * @if {"type": "object"}
     * @then {"type": "object", "propertyNames": {"enum": ["target", "service", "region", "accountId", "roleArn", "roleSessionName", "sessionPerCaller", "externalId", "durationSeconds", "stsRegion", "stsEndpoint", "credentialsEndpoint", "credentials", "permission", "allowedOperations", "allowedMethods", "allowedHeaders", "allowedResponseHeaders", "maxBodySize", "maxUploadSize", "unsignedPayload", "presign", "timeout", "debug", "dangerouslyAllowHttp"]}}
     * @else {"type": "string", "pattern": "^\\s*(?:x\\s*$|[A-Za-z][A-Za-z0-9+.-]*:)"}
     */
    [route: string]:
      | undefined
      | boolean
      | string
      | {
          /**
           * The upstream URL, `https://host[:port][/base/path]`, or `http://` on loopback
           * (elsewhere only with `dangerouslyAllowHttp`). No credentials, query or fragment. The service and region are derived from the host when it is an AWS
           * endpoint.
           *
           * @visibility backend
           * @pattern ^\s*(?:x\s*$|[A-Za-z][A-Za-z0-9+.-]*:)
           */
          target: string;
          /**
           * The SigV4 signing name, e.g. `s3`, `execute-api`, `es`, `aoss`, `lambda`,
           * `bedrock`. Overrides what the host says; required when the host is not an AWS
           * endpoint (custom domain, VPC endpoint alias, localhost).
           *
           * @visibility backend
           * @pattern ^\s*(?:x|[a-z0-9][a-z0-9-]*)\s*$
           */
          service?: string;
          /**
           * The signing region, e.g. `eu-west-1`. Overrides what the host says; required
           * when the host does not include it.
           *
           * @visibility backend
           * @pattern ^\s*(?:x|[a-z]{2}(?:-[a-z]+)+-\d{1,2})\s*$
           */
          region?: string;
          /**
           * Sign with the credentials of this account from `aws.accounts`
           * (`@backstage/integration-aws-node`); quote it in YAML. With `roleArn`: the
           * credentials that assume the role. Must be listed in `aws.accounts`, or
           * `aws.accountDefaults.roleName` must be set. Not allowed with `credentialsEndpoint`.
           * Default: the main account (`aws.mainAccount`, which falls back to the AWS SDK
           * default credential chain).
           *
           * @visibility backend
           * @pattern ^\s*(?:x|\d{12})\s*$
           */
          accountId?: string;
          /**
           * IAM role to assume for this route with sts:AssumeRole, e.g.
           * `arn:aws:iam::123456789012:role/backstage-reader` (any partition, optional
           * path). Assumed with the main account's credentials, or `accountId`'s. With
           * `credentialsEndpoint`, it is sent to the endpoint instead.
           *
           * @visibility backend
           * @pattern ^\s*(?:x|arn:aws(?:-[a-z]+)*:iam::(?:\d{12}|x):role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64})\s*$
           */
          roleArn?: string;
          /**
           * The external id the role's trust policy requires (`sts:ExternalId`); 2 to 1224
           * characters of letters, digits and `+=,.@:/-`. Only with `roleArn`; with
           * `credentialsEndpoint` it is sent to the endpoint. Never logged or shown by the
           * route check.
           *
           * @visibility secret
           * @pattern ^\s*(?:x|[\w+=,.@:/-]{2,1224})\s*$
           */
          externalId?: string;
          /**
           * Session name for `roleArn`; 2 to 64 characters of letters, digits and
           * `+=,.@-`. It appears in the assumed-role ARN and in CloudTrail. Only with
           * `roleArn`, not with `credentialsEndpoint`, nor with `sessionPerCaller` (which
           * names each session after its caller). Default `backstage-proxy-sigv4`.
           *
           * @visibility backend
           * @pattern ^\s*(?:x|[\w+=,.@-]{2,64})\s*$
           */
          roleSessionName?: string;
          /**
           * One role session per Backstage caller, named after the caller
           * (`user:default/jane.doe` is `jane.doe`, `plugin:catalog` is `plugin+catalog`), so
           * that CloudTrail names the person and IAM policies can scope by user and group.
           * `true` is `{ sourceIdentity: true, sessionTags: true }`. With `roleArn` or
           * `credentialsEndpoint` (whose request then names the caller), on routes that
           * need Backstage credentials. The role's trust policy must allow
           * `sts:SetSourceIdentity` (for `sourceIdentity`) and `sts:TagSession` (for
           * `sessionTags`). See docs/credentials.md.
           *
           * @visibility backend
           * @if {"type": "object"}
           * @then {"type": "object", "propertyNames": {"enum": ["sourceIdentity", "sessionTags", "transitiveTags", "maxCallers", "maxGroupTags"]}}
           */
          sessionPerCaller?:
            | boolean
            | {
                /**
                 * Set SourceIdentity to the caller's name: kept through role chaining,
                 * recorded by CloudTrail, checkable with `aws:SourceIdentity`. Default true.
                 *
                 * @visibility backend
                 */
                sourceIdentity?: boolean;
                /**
                 * Session tags naming the caller (`backstage-caller`, `backstage-user`) and
                 * their groups (`backstage-group-1`...), for `aws:PrincipalTag` in policies.
                 * Default true.
                 *
                 * @visibility backend
                 */
                sessionTags?: boolean;
                /**
                 * Make the session tags transitive (they pass on through role chaining).
                 * Needs `sessionTags`. Default false.
                 *
                 * @visibility backend
                 */
                transitiveTags?: boolean;
                /**
                 * The most sessions kept (about one per caller), from 1 to 100000; the
                 * least recently used is dropped first. Default 1000.
                 *
                 * @visibility backend
                 * @minimum 1
                 * @maximum 100000
                 * @multipleOf 1
                 */
                maxCallers?: number;
                /**
                 * The most group tags per session, from 0 to 45; further groups are left
                 * out (`backstage-groups` is then `partial`). Default 40.
                 *
                 * @visibility backend
                 * @minimum 0
                 * @maximum 45
                 * @multipleOf 1
                 */
                maxGroupTags?: number;
              };
          /**
           * Lifetime of the assumed role's credentials, in seconds, from 900 to 43200.
           * STS refuses more than the role's maximum session duration, and more than an
           * hour for role chaining. Only with `roleArn`, not with `credentialsEndpoint`.
           * Default: STS's, one hour.
           *
           * @visibility backend
           * @minimum 900
           * @maximum 43200
           * @multipleOf 1
           */
          durationSeconds?: number;
          /**
           * Region of the STS endpoint used for AssumeRole and for the credentials check:
           * the regional endpoint in that region's partition, as the AWS SDK resolves it
           * (e.g. `sts.cn-north-1.amazonaws.com.cn`), never the global one. Default: the
           * route's region.
           *
           * @visibility backend
           * @pattern ^\s*(?:x|[a-z]{2}(?:-[a-z]+)+-\d{1,2})\s*$
           */
          stsRegion?: string;
          /**
           * An explicit STS endpoint (a VPC endpoint, FIPS, a local STS), used instead of
           * the regional one: scheme, host and port only, no path. https, or plain http
           * only on loopback (localhost, 127.0.0.0/8, [::1]).
           *
           * @visibility backend
           */
          stsEndpoint?: string;
          /**
           * Get this route's credentials from a self-hosted credentials endpoint instead of
           * AWS: the plugin POSTs `{"role_arn", "external_id", "region", "service"}` (with
           * `sessionPerCaller`, also `"caller"`) as JSON
           * and reads `accessKeyId`, `secretAccessKey`, `sessionToken` and an expiry from the
           * answer (the expiry as an ISO date or Unix seconds; one hour when absent). Takes
           * precedence over every other credential source; not allowed with `accountId`,
           * `roleSessionName` or `durationSeconds`. A failed or malformed answer is a 503.
           *
           * @visibility backend
           * @propertyNames {"enum": ["url", "headers"]}
           */
          credentialsEndpoint?: {
            /**
             * The endpoint URL: https, or plain http only on loopback. No user:password@,
             * query or fragment. Redirects are not followed.
             *
             * @visibility backend
             */
            url: string;
            /**
             * Headers sent with every call, e.g. an API key: names to values (printable
             * ASCII on one line). `host`, `content-type`, `content-length`, `connection` and
             * `transfer-encoding` are set by the plugin and refused here. Never logged or
             * shown by the route check.
             *
             * @visibility secret
             * @deepVisibility secret
             */
            headers?: { [name: string]: string };
          };
          /**
           * Who may call the route. `require` (default): a Backstage user or service token.
           * `user-cookie`: the same, and for GET and HEAD also the Backstage user cookie (so
           * that `<img src>` can load an object); other methods still need a token. S3
           * routes only: elsewhere a GET can change things (`GET /?Action=DeleteQueue`), and
           * any site can make a signed-in browser send one.
           * `dangerously-allow-unauthenticated`: anyone who can reach the backend, logged as
           * a warning at start.
           *
           * @visibility backend
           */
          credentials?: 'require' | 'user-cookie' | 'dangerously-allow-unauthenticated';
          /**
           * A Backstage permission name, e.g. `proxy-sigv4.reports.read`. Every request is
           * authorised with the permission framework first, with the `action` attribute of
           * what the request does: by method (GET, HEAD, OPTIONS: read; POST: create; PUT,
           * PATCH: update; DELETE: delete), except on S3 routes, where the method and query
           * decide (`POST ?delete` is a delete; see docs/security.md), and on routes with
           * `allowedOperations`, where the operation's verb decides. Some requests need two
           * actions (a copy: update and read); denied: 403. Not with
           * `dangerously-allow-unauthenticated`.
           *
           * @visibility backend
           * @pattern ^\s*(?:x|[A-Za-z0-9][A-Za-z0-9._-]{0,199})\s*$
           */
          permission?: string;
          /**
           * Query- and JSON-protocol APIs only (SQS, SNS, IAM, STS, EC2, DynamoDB, KMS, ...):
           * the operations the route accepts, as names (`ListQueues`), prefixes ending in
           * `*` (`Get*`) or `*` for all. Every request must then name exactly one operation,
           * in `X-Amz-Target` or in the `Action` query parameter (a request that names it with
           * `Action` may have no body; an `X-Amz-Target` body must be
           * `application/x-amz-json-1.0`/`1.1` or `application/x-amz-cbor-1.1`): 400
           * otherwise, 403 for an operation not listed. The route's `permission` is then
           * checked with the action of the operation's verb (Get, List, Describe, Query,
           * Scan, ...: read; Delete, Remove, Purge, Terminate: delete; Create, Send, Publish,
           * Run: create; anything else, Put included: update). Not on S3, API Gateway,
           * Lambda, OpenSearch or AppSync routes, whose requests say what they do by method
           * and path.
           *
           * @visibility backend
           */
          allowedOperations?: string[];
          /**
           * HTTP methods the route accepts (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS).
           * Others get 405. Default: all of these seven.
           *
           * @visibility backend
           * @items.pattern ^\s*(?:x|[Gg][Ee][Tt]|[Hh][Ee][Aa][Dd]|[Pp][Oo][Ss][Tt]|[Pp][Uu][Tt]|[Pp][Aa][Tt][Cc][Hh]|[Dd][Ee][Ll][Ee][Tt][Ee]|[Oo][Pp][Tt][Ii][Oo][Nn][Ss])\s*$
           */
          allowedMethods?: string[];
          /**
           * Request headers forwarded in addition to the default allowlist, by exact name,
           * and the headers that need opting in because they widen access, weaken retention
           * or bill someone else: x-amz-acl, x-amz-grant-*, x-amz-object-ownership,
           * x-amz-tagging(-directive), x-amz-server-side-encryption(-aws-kms-key-id, -context,
           * -bucket-key-enabled), x-amz-object-lock-*, x-amz-bypass-governance-retention,
           * x-amz-bucket-object-lock-enabled, x-amz-bucket-object-lock-token, x-amz-mfa,
           * x-amz-confirm-remove-self-bucket-access, x-amz-request-payer,
           * x-amz-copy-source*, x-amz-rename-source*, x-amz-website-redirect-location,
           * x-amz-log-type, x-amz-client-context (see docs/security.md). Listing one lets
           * every caller of the route set it. Authorization, cookies, hop-by-hop, proxy-*,
           * x-forwarded-* and the signing headers can never be added; a header the caller's
           * Connection header names is never forwarded.
           *
           * @visibility backend
           */
          allowedHeaders?: string[];
          /**
           * Response headers passed back in addition to the default allowlist. Set-Cookie,
           * hop-by-hop headers, access-control-*, service-worker-allowed, clear-site-data,
           * refresh and x-content-type-options can never be added.
           *
           * @visibility backend
           */
          allowedResponseHeaders?: string[];
          /**
           * The largest request body, in bytes, that is buffered to be hashed for the
           * signature. A larger body gets 413 before anything is sent upstream, except, on
           * an `s3` route, a PutObject or UploadPart with a Content-Length, which streams
           * chunk-signed up to `maxUploadSize`. Default 10485760 (10 MiB).
           *
           * @visibility backend
           * @minimum 0
           * @maximum 2147483647
           * @multipleOf 1
           */
          maxBodySize?: number;
          /**
           * S3 only: the largest upload, in bytes, sent chunk-signed as it arrives (a
           * PutObject or UploadPart with a Content-Length above `maxBodySize`; each 64 KiB
           * chunk is signed, so nothing is buffered and the payload keeps its integrity). A larger upload gets 413 before
           * anything is sent. Uploads without a Content-Length are buffered, up to
           * `maxBodySize`. At least `maxBodySize`, at most 5368709120 (5 GiB, S3's largest
           * single PUT); not with `unsignedPayload`. Default: the route's `maxBodySize` when
           * it sets one (an existing cap stays a cap), else 5368709120.
           *
           * @visibility backend
           * @minimum 0
           * @maximum 5368709120
           * @multipleOf 1
           */
          maxUploadSize?: number;
          /**
           * S3 only: let callers get presigned URLs for this route, through
           * `POST /api/proxy-sigv4/_presign` or `GET /api/proxy-sigv4/_presign/<route>/<key>`
           * (a redirect). The same checks as a proxied request apply. `true`: GET and HEAD,
           * 300 seconds. Not on routes that accept unauthenticated requests.
           *
           * @visibility backend
           * @if {"type": "object"}
           * @then {"type": "object", "propertyNames": {"enum": ["methods", "maxExpiresIn"]}}
           */
          presign?:
            | boolean
            | {
                /**
                 * The methods a URL may be presigned for: some of GET, HEAD, PUT, DELETE,
                 * each allowed by the route. Default GET and HEAD.
                 *
                 * @visibility backend
                 * @items.pattern ^\s*(?:x|[Gg][Ee][Tt]|[Hh][Ee][Aa][Dd]|[Pp][Uu][Tt]|[Dd][Ee][Ll][Ee][Tt][Ee])\s*$
                 */
                methods?: string[];
                /**
                 * The longest lifetime of a presigned URL, in seconds, from 1 to 604800
                 * (7 days); never past the credentials' own expiry. Default 300.
                 *
                 * @visibility backend
                 * @minimum 1
                 * @maximum 604800
                 * @multipleOf 1
                 */
                maxExpiresIn?: number;
              };
          /**
           * S3 only: stream request bodies without buffering, signed with
           * `x-amz-content-sha256: UNSIGNED-PAYLOAD`; no size limit. Default false.
           *
           * @visibility backend
           */
          unsignedPayload?: boolean;
          /**
           * Milliseconds to wait for the upstream's response headers (without upload
           * progress) before answering 504; also the longest the upstream may send nothing in
           * the middle of its answer's body while the caller is ready for more, after which the
           * answer is cut off. Default 30000.
           *
           * @visibility backend
           * @minimum 1
           * @maximum 3600000
           * @multipleOf 1
           */
          timeout?: number;
          /**
           * Log, at info level, each request's canonical request and string to sign as
           * the signer built them, to compare with what AWS expected in a
           * SignatureDoesNotMatch answer. The secret key is never logged, and the values
           * of the session token and S3 SSE-C key headers are replaced; paths, queries and
           * other signed header values (including allowedHeaders) are logged. Default
           * false. Turn it off when done.
           *
           * @visibility backend
           */
          debug?: boolean;
          /**
           * Allow a plain `http://` target that is not on loopback, e.g. LocalStack in a
           * container network (`http://localstack:4566`). Signed requests, the session
           * token, bodies and answers then cross the network in clear; logged as a warning
           * at start. Refused for AWS endpoints, which serve https, and where it is not
           * needed (https, or http on localhost, 127.0.0.0/8, [::1]). Default false.
           *
           * @visibility backend
           */
          dangerouslyAllowHttp?: boolean;
        };
  };
}

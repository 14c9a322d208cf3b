import {
  AssumeRoleCommand,
  GetCallerIdentityCommand,
  STSClient,
} from '@aws-sdk/client-sts';
import { AwsCredentialIdentity } from '@smithy/types';
import { StsTarget } from '../config/types';
import { CredentialsFetcher } from './cachedCredentials';
import { awsErrorCode, CredentialsUnavailableError, describeAwsError } from './errors';

/** How long one STS call may take, connecting and answering, before it fails. */
const STS_CONNECTION_TIMEOUT_MS = 5_000;
const STS_REQUEST_TIMEOUT_MS = 10_000;

/**
 * An STS client for a route: the regional endpoint of `sts.region`, in its partition (the
 * SDK's endpoint rules give `sts.cn-north-1.amazonaws.com.cn` for China, for example), or
 * the configured endpoint; signed with the given credentials.
 */
export function createStsClient(
  sts: StsTarget,
  credentials: CredentialsFetcher,
): STSClient {
  return new STSClient({
    region: sts.region,
    endpoint: sts.endpoint,
    credentials,
    maxAttempts: 2,
    requestHandler: {
      connectionTimeout: STS_CONNECTION_TIMEOUT_MS,
      requestTimeout: STS_REQUEST_TIMEOUT_MS,
    },
  });
}

let resolverClient: STSClient | undefined;

/**
 * The STS endpoint a route's client sends to, for logs and the route check: the configured
 * one, or the regional endpoint as the SDK's endpoint rules resolve it.
 */
export function stsEndpointFor(sts: StsTarget): string {
  if (sts.endpoint) {
    return sts.endpoint;
  }
  resolverClient ??= new STSClient({ region: 'us-east-1' });
  const endpoint = resolverClient.config.endpointProvider({
    Region: sts.region,
    UseDualStack: false,
    UseFIPS: false,
    UseGlobalEndpoint: false,
  });
  return endpoint.url.href.replace(/\/$/, '');
}

/** The parameters of an AssumeRole call, as configured for a route (and, per caller, its caller). */
export interface AssumeRoleParameters {
  roleArn: string;
  externalId?: string;
  roleSessionName: string;
  durationSeconds?: number;
  /** The caller's name, recorded by CloudTrail and kept through role chaining. */
  sourceIdentity?: string;
  /** Session tags, for `aws:PrincipalTag` in policies. */
  tags?: ReadonlyArray<{ Key: string; Value: string }>;
  /** Keys of `tags` that pass on to sessions chained from this one. */
  transitiveTagKeys?: readonly string[];
}

/** The trust-policy permissions that AssumeRole needs for a SourceIdentity or session tags. */
export type MissingStsPermission = 'sts:SetSourceIdentity' | 'sts:TagSession';

/**
 * The permission an AssumeRole was refused for, when STS's AccessDenied names one of the
 * two that a session per caller needs: `... is not authorized to perform:
 * sts:SetSourceIdentity on resource: ...`.
 */
export function missingStsPermission(error: unknown): MissingStsPermission | undefined {
  if (awsErrorCode(error) !== 'AccessDenied') return undefined;
  const found = /not authorized to perform:? (sts:SetSourceIdentity|sts:TagSession)\b/i.exec(
    String((error as Error)?.message ?? ''),
  );
  if (!found) return undefined;
  return found[1].toLowerCase() === 'sts:tagsession' ? 'sts:TagSession' : 'sts:SetSourceIdentity';
}

/** STS refused the session tags as too large once packed (the SDK names the error with `Exception`). */
export function isPackedPolicyTooLarge(error: unknown): boolean {
  const code = awsErrorCode(error);
  return code === 'PackedPolicyTooLarge' || code === 'PackedPolicyTooLargeException';
}

const PERMISSION_PARTS: Record<MissingStsPermission, string> = {
  'sts:SetSourceIdentity': 'sessionPerCaller.sourceIdentity',
  'sts:TagSession': 'sessionPerCaller.sessionTags',
};

/**
 * A fetcher that assumes a role with `client` (whose credentials are the source's) on every
 * call; the cache in front of it decides when. Errors become a 503 naming the role and the
 * STS error, with the external id and `otherSecrets()` (the source credentials' secret and
 * session token, which a SignatureDoesNotMatch can quote) replaced.
 */
export function assumeRoleFetcher(
  client: STSClient,
  params: AssumeRoleParameters,
  otherSecrets: () => ReadonlyArray<string | undefined> = () => [],
): CredentialsFetcher {
  return async () => {
    let answer;
    try {
      answer = await client.send(
        new AssumeRoleCommand({
          RoleArn: params.roleArn,
          RoleSessionName: params.roleSessionName,
          ExternalId: params.externalId,
          DurationSeconds: params.durationSeconds,
          SourceIdentity: params.sourceIdentity,
          Tags: params.tags?.length ? params.tags.map(t => ({ ...t })) : undefined,
          TransitiveTagKeys: params.transitiveTagKeys?.length
            ? [...params.transitiveTagKeys]
            : undefined,
        }),
      );
    } catch (error) {
      const described = describeAwsError(error, [params.externalId, ...otherSecrets()]);
      const missing = missingStsPermission(error);
      if (missing) {
        throw new CredentialsUnavailableError(
          `Could not assume role ${params.roleArn} as ${params.roleSessionName}: the role's trust policy does not allow ${missing}, which sessionPerCaller needs. Add ${missing} to the Action of the trust policy's statement that trusts the Backstage backend (when the backend's own credentials are a role session, that role's permissions policy needs it too), or turn ${PERMISSION_PARTS[missing]} off. ${described}`,
          error,
          undefined,
          missing,
        );
      }
      throw new CredentialsUnavailableError(
        `Could not assume role ${params.roleArn}: ${described}`,
        error,
      );
    }
    const c = answer.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken) {
      throw new CredentialsUnavailableError(
        `Could not assume role ${params.roleArn}: STS answered without credentials`,
      );
    }
    const credentials: AwsCredentialIdentity = {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      sessionToken: c.SessionToken,
      expiration: c.Expiration,
    };
    return credentials;
  };
}

/** Who the credentials belong to: sts:GetCallerIdentity, which needs no IAM permission. */
export async function callerIdentity(
  client: STSClient,
): Promise<{ arn: string; account: string }> {
  const answer = await client.send(new GetCallerIdentityCommand({}));
  return { arn: answer.Arn ?? '?', account: answer.Account ?? '?' };
}

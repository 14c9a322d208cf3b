import { LoggerService } from '@backstage/backend-plugin-api';
import {
  AwsCredentialsManager,
  DefaultAwsCredentialsManager,
} from '@backstage/integration-aws-node';
import { Config } from '@backstage/config';
import { AwsCredentialIdentity } from '@smithy/types';
import { STSClient } from '@aws-sdk/client-sts';
import {
  BaseCredentialSource,
  CredentialSourceConfig,
  StsTarget,
} from '../config/types';
import {
  CredentialsCache,
  CredentialsCacheOptions,
  CredentialsFetcher,
} from './cachedCredentials';
import { credentialsEndpointFetcher, shownEndpoint } from './credentialsEndpoint';
import {
  awsErrorCode,
  CredentialsUnavailableError,
  describeAwsError,
} from './errors';
import { assumeRoleFetcher, callerIdentity, createStsClient } from './sts';
import { redactedExcerpt, redactSecrets } from './redact';

export { CredentialsUnavailableError, describeAwsError } from './errors';

/**
 * A stable key per distinct credential source, so that routes using the same source share
 * one cache: (source, role, external id, session name, duration, STS endpoint) for roles.
 * It holds secrets (external id, endpoint headers): never log it.
 */
export function credentialSourceKey(source: CredentialSourceConfig): string {
  switch (source.kind) {
    case 'main':
      return 'main';
    case 'account':
      return `account:${source.accountId}`;
    case 'role':
      return `role:${JSON.stringify([
        credentialSourceKey(source.source),
        source.roleArn,
        source.externalId ?? null,
        source.roleSessionName,
        source.durationSeconds ?? null,
        source.sts.endpoint ?? `region:${source.sts.region}`,
      ])}`;
    case 'endpoint':
      return `endpoint:${JSON.stringify([
        source.url,
        Object.entries(source.headers).sort(),
        source.roleArn ?? null,
        source.externalId ?? null,
        source.region,
        source.service,
      ])}`;
    default:
      throw new Error('unknown credential source');
  }
}

/** Names a credential source in logs and errors, without secrets. */
export function describeCredentialSource(source: CredentialSourceConfig): string {
  switch (source.kind) {
    case 'main':
      return 'the main AWS account';
    case 'account':
      return `account ${source.accountId}`;
    case 'role':
      return `role ${source.roleArn} (assumed with ${describeCredentialSource(source.source)})`;
    case 'endpoint':
      return `credentials endpoint ${shownEndpoint(source.url)}${source.roleArn ? ` (role ${source.roleArn})` : ''}`;
    default:
      throw new Error('unknown credential source');
  }
}

/** The outcome of sts:GetCallerIdentity with a route's credentials. */
export type IdentityCheck =
  | { ok: true; arn: string; account: string }
  | { ok: false; code: string; message: string };

/**
 * The secrets of a credential source's configuration: never in a message, log or answer,
 * whatever STS or an endpoint echoes.
 */
export function secretsOf(source: CredentialSourceConfig): string[] {
  switch (source.kind) {
    case 'role':
      return source.externalId ? [source.externalId] : [];
    case 'endpoint':
      return [
        ...(source.externalId ? [source.externalId] : []),
        ...Object.values(source.headers),
      ];
    default:
      return [];
  }
}

/** The secret parts of credentials. */
const credentialSecrets = (c: AwsCredentialIdentity | undefined) => [
  c?.secretAccessKey,
  c?.sessionToken,
];

const messageOf = (error: unknown, secrets: ReadonlyArray<string | undefined>) =>
  redactedExcerpt(String((error as Error)?.message ?? error), secrets, 500);
const codeOf = (error: unknown, secrets: ReadonlyArray<string | undefined>) =>
  redactedExcerpt(awsErrorCode(error) ?? 'Error', secrets, 100);

/**
 * Wraps a fetcher so that no error it throws carries a secret in its message: a
 * {@link CredentialsUnavailableError} (a 503) with the secrets replaced.
 */
function redactingFetcher(
  fetch: CredentialsFetcher,
  secrets: () => ReadonlyArray<string | undefined>,
): CredentialsFetcher {
  return async options => {
    try {
      return await fetch(options);
    } catch (error) {
      const known = secrets();
      const message = String((error as Error)?.message ?? error);
      const clean = redactSecrets(message, known);
      const code = codeOf(error, known);
      if (
        error instanceof CredentialsUnavailableError &&
        clean === message &&
        code === error.code
      ) {
        throw error;
      }
      throw new CredentialsUnavailableError(clean, undefined, code);
    }
  };
}

interface Entry {
  cache: CredentialsCache;
  /** The STS client of an AssumeRole source, destroyed on close. */
  client?: STSClient;
}

/**
 * The secrets of the `aws` integration's own configuration (the main account's and the
 * accounts' secret keys, their external ids) and of the environment's credentials: an error
 * from integration-aws-node's AssumeRole can echo them as well as a route's own.
 */
export function integrationSecrets(config: Config): string[] {
  const aws = config.getOptionalConfig('aws');
  const found = [
    aws?.getOptionalString('mainAccount.secretAccessKey'),
    aws?.getOptionalString('accountDefaults.externalId'),
    aws?.getOptionalString('accountDefaults.secretAccessKey'),
    ...(aws?.getOptionalConfigArray('accounts') ?? []).flatMap(account => [
      account.getOptionalString('secretAccessKey'),
      account.getOptionalString('externalId'),
    ]),
    process.env.AWS_SECRET_ACCESS_KEY,
    process.env.AWS_SESSION_TOKEN,
  ];
  return found.filter((s): s is string => typeof s === 'string' && s !== '');
}

/** Options for {@link CredentialsResolver}. */
export interface CredentialsResolverOptions {
  logger?: LoggerService;
  /**
   * Secrets of the integration's configuration (see {@link integrationSecrets}), replaced in
   * every error message as a route's own are.
   */
  secrets?: readonly string[];
  /** Cache tuning (retry delays), for tests. */
  cache?: Pick<CredentialsCacheOptions, 'retryDelayMs' | 'maxRetryDelayMs'>;
}

/**
 * Resolves a route's credential source to a shared {@link CredentialsCache}: the
 * integration-aws-node main account or an `aws.accounts` entry, an assumed role (AssumeRole
 * with those as source credentials), or a self-hosted credentials endpoint. Nothing is
 * fetched until first use.
 */
export class CredentialsResolver {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  static fromConfig(
    config: Config,
    options: CredentialsResolverOptions = {},
  ): CredentialsResolver {
    return new CredentialsResolver(DefaultAwsCredentialsManager.fromConfig(config), {
      ...options,
      secrets: [...(options.secrets ?? []), ...integrationSecrets(config)],
    });
  }

  constructor(
    private readonly manager: AwsCredentialsManager,
    private readonly options: CredentialsResolverOptions = {},
  ) {}

  /** The credentials cache for a source; one per distinct source. */
  forSource(source: CredentialSourceConfig): CredentialsCache {
    return this.entry(source).cache;
  }

  /**
   * sts:GetCallerIdentity with the source's credentials, through the route's STS endpoint:
   * who the route signs as, or why it cannot sign. Never throws.
   */
  async checkIdentity(
    source: CredentialSourceConfig,
    sts: StsTarget,
  ): Promise<IdentityCheck> {
    const cache = this.forSource(source);
    const configured = [...secretsOf(source), ...(this.options.secrets ?? [])];
    let credentials: AwsCredentialIdentity;
    try {
      credentials = await cache.peek();
    } catch (error) {
      return { ok: false, code: codeOf(error, configured), message: messageOf(error, configured) };
    }
    const client = createStsClient(sts, async () => credentials);
    try {
      return { ok: true, ...(await callerIdentity(client)) };
    } catch (error) {
      // A SignatureDoesNotMatch from STS quotes the canonical request, session token included.
      const secrets = [...configured, ...credentialSecrets(credentials)];
      return { ok: false, code: codeOf(error, secrets), message: messageOf(error, secrets) };
    } finally {
      client.destroy();
    }
  }

  /** Stops refresh timers and closes STS connections (backend shutdown). */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) {
      entry.cache.close();
      entry.client?.destroy();
    }
  }

  private entry(source: CredentialSourceConfig): Entry {
    const key = credentialSourceKey(source);
    let entry = this.entries.get(key);
    if (!entry) {
      let client: STSClient | undefined;
      let fetcher: CredentialsFetcher;
      // The source credentials last used to call STS: their secrets are redacted too.
      let sourceCredentials: AwsCredentialIdentity | undefined;
      if (source.kind === 'role') {
        const sourceCache = this.forSource(source.source);
        client = createStsClient(source.sts, async () => {
          sourceCredentials = await sourceCache.get();
          return sourceCredentials;
        });
        fetcher = assumeRoleFetcher(client, source, () => [
          ...credentialSecrets(sourceCredentials),
          ...(this.options.secrets ?? []),
        ]);
      } else if (source.kind === 'endpoint') {
        fetcher = credentialsEndpointFetcher(source);
      } else {
        fetcher = this.integrationFetcher(source);
      }
      const configured = [...secretsOf(source), ...(this.options.secrets ?? [])];
      fetcher = redactingFetcher(fetcher, () => [
        ...configured,
        ...credentialSecrets(sourceCredentials),
      ]);
      const cache = new CredentialsCache(fetcher, {
        ...this.options.cache,
        label: describeCredentialSource(source),
        logger: this.options.logger,
      });
      if (this.closed) cache.close();
      entry = { cache, client };
      this.entries.set(key, entry);
    }
    return entry;
  }

  /** The main account's or an `aws.accounts` entry's credentials, from integration-aws-node. */
  private integrationFetcher(source: BaseCredentialSource): CredentialsFetcher {
    const accountId = source.kind === 'account' ? source.accountId : undefined;
    // The integration's provider is not memoised; the cache in front makes sure it is
    // called only when the cached credentials are missing or due for a refresh.
    // Its providers take the SDK's `{ forceRefresh }` (the default chain honours it), though
    // integration-aws-node's type does not say so.
    let provider: Promise<CredentialsFetcher> | undefined;
    return async options => {
      try {
        if (!provider) {
          provider = this.manager
            .getCredentialProvider(accountId ? { accountId } : {})
            .then(p => p.sdkCredentialProvider as CredentialsFetcher);
          provider.catch(() => {
            provider = undefined;
          });
        }
        return await (await provider)({ forceRefresh: options?.forceRefresh });
      } catch (error) {
        throw new CredentialsUnavailableError(
          `Could not get AWS credentials for ${describeCredentialSource(source)}: ${describeAwsError(error, this.options.secrets)}`,
          error,
        );
      }
    };
  }
}

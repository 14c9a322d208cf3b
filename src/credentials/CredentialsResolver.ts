import { ServiceUnavailableError } from '@backstage/errors';
import {
  AwsCredentialsManager,
  DefaultAwsCredentialsManager,
} from '@backstage/integration-aws-node';
import { Config } from '@backstage/config';
import { AwsCredentialIdentity } from '@smithy/types';
import { CredentialSourceConfig } from '../config/types';
import { cachedCredentials, CredentialsFetcher } from './cachedCredentials';

/** AWS credentials cannot be had right now; becomes a 503 whose message says why. */
export class CredentialsUnavailableError extends ServiceUnavailableError {}

/** A stable key per credential source, so that routes using the same source share one cache. */
export function credentialSourceKey(source: CredentialSourceConfig): string {
  switch (source.kind) {
    case 'main':
      return 'main';
    case 'account':
      return `account:${source.accountId}`;
    case 'role':
      return `role:${credentialSourceKey(source.source)}:${source.roleArn}:${source.roleSessionName ?? ''}`;
    default:
      throw new Error('unknown credential source');
  }
}

/** Describes an AWS SDK error by code and message, never by anything that could hold a secret. */
export function describeAwsError(error: unknown): string {
  const e = error as { name?: string; Code?: string; code?: string; message?: string };
  const code = e?.Code ?? e?.code ?? e?.name ?? 'Error';
  const message = String(e?.message ?? error).slice(0, 300);
  return `${code}: ${message}`;
}

/**
 * Resolves a route's credential source to a cached credentials function. This is the seam
 * the STS layer plugs into: `role` sources will wrap the source's credentials in an
 * AssumeRole provider here, sharing the same cache per distinct source.
 */
export class CredentialsResolver {
  private readonly bySource = new Map<
    string,
    CredentialsFetcher & { invalidate(): void }
  >();

  static fromConfig(config: Config): CredentialsResolver {
    return new CredentialsResolver(
      DefaultAwsCredentialsManager.fromConfig(config),
    );
  }

  constructor(private readonly manager: AwsCredentialsManager) {}

  /** The cached credentials function for a source; one per distinct source. */
  forSource(source: CredentialSourceConfig) {
    const key = credentialSourceKey(source);
    let fetcher = this.bySource.get(key);
    if (!fetcher) {
      fetcher = cachedCredentials(this.fetcher(source));
      this.bySource.set(key, fetcher);
    }
    return fetcher;
  }

  private fetcher(source: CredentialSourceConfig): CredentialsFetcher {
    if (source.kind === 'role') {
      throw new Error('AssumeRole sources need the STS support');
    }
    const accountId = source.kind === 'account' ? source.accountId : undefined;
    const label = accountId ? `account ${accountId}` : 'the main AWS account';
    // The integration's provider is not memoised; the cache above makes sure it is
    // called only when the cached credentials are missing or about to expire.
    let provider: Promise<() => Promise<AwsCredentialIdentity>> | undefined;
    return async () => {
      try {
        if (!provider) {
          provider = this.manager
            .getCredentialProvider(accountId ? { accountId } : {})
            .then(p => p.sdkCredentialProvider);
          provider.catch(() => {
            provider = undefined;
          });
        }
        return await (await provider)();
      } catch (error) {
        throw new CredentialsUnavailableError(
          `Could not get AWS credentials for ${label}: ${describeAwsError(error)}`,
        );
      }
    };
  }
}

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
  EndpointCredentialSource,
  RoleCredentialSource,
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
import {
  assumeRoleFetcher,
  callerIdentity,
  createStsClient,
  isPackedPolicyTooLarge,
} from './sts';
import { redactedExcerpt, redactSecrets } from './redact';
import {
  CallerSession,
  CallerSessions,
  MAX_LISTED_DROPS,
  NEW_SESSIONS_REFILL_MS,
  newSessionsPerMinute,
  SessionRequest,
} from './callerSessions';
import { DroppedTag, hasGroupTags, SessionTag, withoutGroupTags } from './sessionTags';

/** A credential source that can give each caller a session of their own. */
export type PerCallerSource = RoleCredentialSource | EndpointCredentialSource;

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
        source.sessionPerCaller ?? null,
      ])}`;
    case 'endpoint':
      return `endpoint:${JSON.stringify([
        source.url,
        Object.entries(source.headers).sort(),
        source.roleArn ?? null,
        source.externalId ?? null,
        source.region,
        source.service,
        source.sessionPerCaller ?? null,
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
  | {
      ok: false;
      code: string;
      message: string;
      /** The trust-policy permission a per-caller session was refused for. */
      missingPermission?: string;
    };

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
      const missing =
        error instanceof CredentialsUnavailableError ? error.missingPermission : undefined;
      if (
        error instanceof CredentialsUnavailableError &&
        clean === message &&
        code === error.code
      ) {
        throw error;
      }
      throw new CredentialsUnavailableError(clean, undefined, code, missing);
    }
  };
}

interface Entry {
  cache: CredentialsCache;
}

/** A role's STS client, and the secrets of the source credentials it last signed with. */
interface StsSource {
  client: STSClient;
  /** Redacted from every error of an AssumeRole through this client. */
  secrets: () => ReadonlyArray<string | undefined>;
}

/** An STS client no route uses any more is closed after this: longer than one STS call. */
const RETIRED_STS_CLIENT_GRACE_MS = 30_000;

/** The first few tags left out, and how many more: a user can own thousands of groups. */
function describeDropped(dropped: readonly DroppedTag[], count: number): string {
  const listed = dropped.map(d => `${d.ref} (${d.reason})`);
  if (count > dropped.length) listed.push(`and ${count - dropped.length} more`);
  return listed.join(', ');
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
  private readonly stsSources = new Map<string, StsSource>();
  private readonly callerSessions = new Map<string, CallerSessions>();
  /** STS clients no route uses any more, each closed when its grace period ends. */
  private readonly retiredSts = new Map<StsSource, NodeJS.Timeout>();
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
   * The session of one caller (with these tags) on a source with `sessionPerCaller`: made on
   * first use (its credentials fetched when first asked for), kept while it is among the
   * `maxCallers` most recently used sessions of the source.
   */
  sessionFor(source: PerCallerSource, request: SessionRequest): CallerSession {
    const key = credentialSourceKey(source);
    let sessions = this.callerSessions.get(key);
    if (!sessions) {
      let warnedAt = -Infinity;
      sessions = new CallerSessions(
        r => this.createCallerSession(source, r),
        source.sessionPerCaller!.maxCallers,
        Date.now,
        () => {
          if (Date.now() - warnedAt < NEW_SESSIONS_REFILL_MS) return;
          warnedAt = Date.now();
          this.options.logger?.warn(
            `proxysigv4: new callers of ${describeCredentialSource(source)} are refused (503) for now: more new sessions were asked for than its limit (a burst of ${newSessionsPerMinute(source.sessionPerCaller!.maxCallers)}, then as many a minute: the larger of 1000 and sessionPerCaller.maxCallers)`,
          );
        },
      );
      if (this.closed) sessions.close();
      this.callerSessions.set(key, sessions);
    }
    return sessions.session(request);
  }

  /**
   * sts:GetCallerIdentity with the source's credentials (or with `cache`'s: a caller's
   * session), through the route's STS endpoint: who the route signs as, or why it cannot
   * sign. Never throws.
   */
  async checkIdentity(
    source: CredentialSourceConfig,
    sts: StsTarget,
    sessionCache?: CredentialsCache,
  ): Promise<IdentityCheck> {
    const cache = sessionCache ?? this.forSource(source);
    const configured = [...secretsOf(source), ...(this.options.secrets ?? [])];
    let credentials: AwsCredentialIdentity;
    try {
      credentials = await cache.peek();
    } catch (error) {
      const missing =
        error instanceof CredentialsUnavailableError ? error.missingPermission : undefined;
      return {
        ok: false,
        code: codeOf(error, configured),
        message: messageOf(error, configured),
        ...(missing ? { missingPermission: missing } : {}),
      };
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

  /**
   * After a reload: lets go of every source that none of `sources` uses (directly, or as the
   * credentials that assume a role): their refresh timers stop, their caller sessions go, and
   * their STS connections close once a request in flight has had time to finish. The caches
   * of sources still in use are kept: a reload costs them no STS call.
   */
  retain(sources: readonly CredentialSourceConfig[]): void {
    const used = new Set<string>();
    for (const source of sources) {
      used.add(credentialSourceKey(source));
      if (source.kind === 'role') used.add(credentialSourceKey(source.source));
    }
    for (const [key, entry] of this.entries) {
      if (used.has(key)) continue;
      entry.cache.close();
      this.entries.delete(key);
    }
    for (const [key, sessions] of this.callerSessions) {
      if (used.has(key)) continue;
      sessions.close();
      this.callerSessions.delete(key);
    }
    for (const [key, sts] of this.stsSources) {
      if (used.has(key)) continue;
      this.stsSources.delete(key);
      const retired = sts;
      const timer = setTimeout(() => {
        this.retiredSts.delete(retired);
        retired.client.destroy();
      }, RETIRED_STS_CLIENT_GRACE_MS);
      timer.unref();
      this.retiredSts.set(retired, timer);
    }
  }

  /** Stops refresh timers and closes STS connections (backend shutdown). */
  close(): void {
    this.closed = true;
    for (const entry of this.entries.values()) {
      entry.cache.close();
    }
    for (const sessions of this.callerSessions.values()) {
      sessions.close();
    }
    for (const sts of this.stsSources.values()) {
      sts.client.destroy();
    }
    for (const [sts, timer] of this.retiredSts) {
      clearTimeout(timer);
      sts.client.destroy();
    }
    this.retiredSts.clear();
  }

  /** The STS client that assumes a role, one per distinct source; shared by its callers. */
  private stsSource(source: RoleCredentialSource): StsSource {
    const key = credentialSourceKey(source);
    let sts = this.stsSources.get(key);
    if (!sts) {
      const sourceCache = this.forSource(source.source);
      // The source credentials last used to call STS: their secrets are redacted too.
      let sourceCredentials: AwsCredentialIdentity | undefined;
      const client = createStsClient(source.sts, async () => {
        sourceCredentials = await sourceCache.get();
        return sourceCredentials;
      });
      sts = {
        client,
        secrets: () => [
          ...credentialSecrets(sourceCredentials),
          ...(this.options.secrets ?? []),
        ],
      };
      this.stsSources.set(key, sts);
    }
    return sts;
  }

  /**
   * A caller's session: AssumeRole named after the caller, with their SourceIdentity and
   * tags as the source's `sessionPerCaller` says, or a credentials endpoint call that names
   * them. When STS finds the tags too large once packed, the group tags are left out (fewer
   * rights, never more) and the call is made once more; the session keeps that choice.
   */
  private createCallerSession(
    source: PerCallerSource,
    request: SessionRequest,
  ): CallerSession {
    const perCaller = source.sessionPerCaller!;
    const label = `${describeCredentialSource(source)} for caller ${request.identity}`;
    const { logger } = this.options;
    // Made below, once its cache is; the fetcher reads and updates its tags.
    // eslint-disable-next-line prefer-const
    let session: CallerSession;
    let fetcher: CredentialsFetcher;
    let secrets: () => ReadonlyArray<string | undefined> = () => [];
    if (source.kind === 'role') {
      const sts = this.stsSource(source);
      secrets = sts.secrets;
      const assume = (tags: readonly SessionTag[]) =>
        assumeRoleFetcher(
          sts.client,
          {
            ...source,
            roleSessionName: request.identity,
            sourceIdentity: perCaller.sourceIdentity ? request.identity : undefined,
            tags,
            transitiveTagKeys: perCaller.transitiveTags ? tags.map(t => t.Key) : undefined,
          },
          sts.secrets,
        )();
      fetcher = async () => {
        try {
          return await assume(session.tags);
        } catch (error) {
          if (!isPackedPolicyTooLarge(error) || !hasGroupTags(session.tags)) {
            throw error;
          }
          const fewer = withoutGroupTags({ tags: [...session.tags], dropped: [...session.dropped] });
          session.droppedCount += fewer.dropped.length - session.dropped.length;
          session.tags = fewer.tags;
          session.dropped = fewer.dropped.slice(0, MAX_LISTED_DROPS);
          logger?.warn(
            `proxysigv4: STS found the session tags of ${label} too large once packed (PackedPolicyTooLarge); its sessions are made without group tags (backstage-groups=partial), so policies that grant through backstage-group-N do not apply to it. The backend's own session's transitive tags (EKS Pod Identity) can take most of the budget; lower sessionPerCaller.maxGroupTags`,
          );
          return assume(session.tags);
        }
      };
    } else {
      fetcher = credentialsEndpointFetcher(source, {
        identity: request.identity,
        sourceIdentity: perCaller.sourceIdentity ? request.identity : undefined,
        tags: request.tags,
        transitiveTagKeys: perCaller.transitiveTags ? request.tags.map(t => t.Key) : [],
        caller: request.caller,
      });
    }
    const configured = [...secretsOf(source), ...(this.options.secrets ?? [])];
    fetcher = redactingFetcher(fetcher, () => [...configured, ...secrets()]);
    session = {
      callerKey: request.callerKey,
      identity: request.identity,
      fingerprint: request.fingerprint,
      tags: request.tags,
      dropped: request.dropped,
      droppedCount: request.droppedCount,
      lastUsed: 0,
      cache: new CredentialsCache(fetcher, {
        ...this.options.cache,
        label,
        logger,
        fetchCountsAsUse: false,
      }),
    };
    if (request.dropped.length > 0) {
      logger?.warn(
        `proxysigv4: the session of ${label} is made without some tags (fewer rights, never more): ${describeDropped(request.dropped, request.droppedCount)}`,
      );
    }
    return session;
  }

  private entry(source: CredentialSourceConfig): Entry {
    const key = credentialSourceKey(source);
    let entry = this.entries.get(key);
    if (!entry) {
      let fetcher: CredentialsFetcher;
      let secrets: () => ReadonlyArray<string | undefined> = () => [];
      if ((source.kind === 'role' || source.kind === 'endpoint') && source.sessionPerCaller) {
        // Never one session for everyone on a per-caller source: only sessionFor() signs.
        fetcher = async () => {
          throw new CredentialsUnavailableError(
            `Internal error: ${describeCredentialSource(source)} makes a session per caller, and none was chosen for this request`,
          );
        };
      } else if (source.kind === 'role') {
        const sts = this.stsSource(source);
        secrets = sts.secrets;
        fetcher = assumeRoleFetcher(sts.client, source, sts.secrets);
      } else if (source.kind === 'endpoint') {
        fetcher = credentialsEndpointFetcher(source);
      } else {
        fetcher = this.integrationFetcher(source);
      }
      const configured = [...secretsOf(source), ...(this.options.secrets ?? [])];
      fetcher = redactingFetcher(fetcher, () => [...configured, ...secrets()]);
      const cache = new CredentialsCache(fetcher, {
        ...this.options.cache,
        label: describeCredentialSource(source),
        logger: this.options.logger,
      });
      if (this.closed) cache.close();
      entry = { cache };
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

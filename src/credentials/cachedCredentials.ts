import { LoggerService } from '@backstage/backend-plugin-api';
import { AwsCredentialIdentity } from '@smithy/types';

/**
 * Credentials are not used in their last 5 minutes (or, for short-lived ones, the last third
 * of their lifetime): that is the margin. They are refreshed, in the background, one more
 * margin before that.
 */
export const EXPIRY_MARGIN_MS = 5 * 60 * 1000;

/** How long one fetch may take before it counts as failed. */
const FETCH_TIMEOUT_MS = 30_000;
/** When a refresh gives back the credentials already held, the next attempt is this much later. */
const SAME_CREDENTIALS_RETRY_MS = 30_000;
/**
 * At most one refresh forced by an upstream's rejection per this interval, per credential
 * source: an upstream that answers ExpiredToken to everything must not turn every request
 * into an STS call.
 */
export const MIN_FORCED_REFRESH_INTERVAL_MS = 60_000;

/**
 * A function that returns credentials, as AWS SDK v3 credential providers do.
 * `forceRefresh` asks a provider with a cache of its own (the SDK's default chain) to
 * bypass it: the cached credentials were rejected.
 */
export type CredentialsFetcher = (options?: {
  forceRefresh?: boolean;
}) => Promise<AwsCredentialIdentity>;

/** Tuning of {@link CredentialsCache}; the defaults suit production. */
export interface CredentialsCacheOptions {
  /** Names the credentials in logs (never a secret), e.g. `role arn:aws:iam::…`. */
  label: string;
  logger?: LoggerService;
  /** Delay before the first retry after a failed fetch; it doubles per failure. Default 1 s. */
  retryDelayMs?: number;
  /** The longest delay between retries. Default 10 s. */
  maxRetryDelayMs?: number;
  /** See {@link MIN_FORCED_REFRESH_INTERVAL_MS}. */
  minForcedRefreshIntervalMs?: number;
  /**
   * Whether the request that caused a fetch counts as use (default true). False for a
   * caller's own session: refreshed ahead only when the caller comes back, so that a caller
   * seen once costs one AssumeRole, not two.
   */
  fetchCountsAsUse?: boolean;
}

/**
 * A cache of one set of AWS credentials, shared by every route that uses them.
 *
 * - Single flight: concurrent callers on a cold cache share one fetch.
 * - Temporary credentials are served until `expiration - margin` and refreshed in the
 *   background from `expiration - 2 × margin`, by a timer (if they were used since they
 *   were fetched) or by the first request past that point; so a request waits for a fetch
 *   only on first use, after an idle spell, or when no usable credentials are left.
 * - A failed refresh keeps serving the current credentials while they are usable and
 *   retries with exponential backoff. Without usable credentials, requests fail at once
 *   with the last error until the backoff delay has passed, then the next one tries again.
 *   A failure is logged once when it starts and once when it ends, not per request.
 * - Long-term credentials (no expiration) are fetched once.
 * - Timers are unref'd and stopped by {@link CredentialsCache.close}.
 */
export class CredentialsCache {
  private cached: AwsCredentialIdentity | undefined;
  private usableUntil = 0;
  private refreshAt = 0;
  private inFlight: Promise<AwsCredentialIdentity> | undefined;
  private failures = 0;
  private lastError: unknown;
  private retryAt = 0;
  private used = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = 0;
  private closed = false;
  /** The next fetch follows rejected credentials. */
  private forceNext = false;
  /** The access key id last rejected by an upstream. */
  private rejectedKey: string | undefined;
  /** When an upstream's rejection last dropped the cached credentials. */
  private lastForcedAt = -Infinity;
  private readonly retryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly minForcedIntervalMs: number;

  constructor(
    private readonly fetch: CredentialsFetcher,
    private readonly options: CredentialsCacheOptions,
  ) {
    this.retryDelayMs = options.retryDelayMs ?? 1000;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 10_000;
    this.minForcedIntervalMs =
      options.minForcedRefreshIntervalMs ?? MIN_FORCED_REFRESH_INTERVAL_MS;
  }

  /** Usable credentials for a request: cached, or fetched now when there are none. */
  readonly get = (): Promise<AwsCredentialIdentity> => this.obtain(true);

  /**
   * Like {@link CredentialsCache.get}, without counting as use: for checks, which should
   * not keep an idle route's credentials refreshed.
   */
  readonly peek = (): Promise<AwsCredentialIdentity> => this.obtain(false);

  private async obtain(use: boolean): Promise<AwsCredentialIdentity> {
    const now = Date.now();
    if (this.cached && now < this.usableUntil) {
      this.used ||= use;
      if (now >= this.refreshAt) {
        this.refreshInBackground();
      }
      return this.cached;
    }
    if (!this.inFlight && this.lastError !== undefined && now < this.retryAt) {
      throw this.lastError;
    }
    const credentials = await this.refresh();
    this.used ||= use && this.options.fetchCountsAsUse !== false;
    return credentials;
  }

  /**
   * An upstream rejected the credentials with this access key id as expired or unknown.
   * Drops them, so that the next call fetches fresh ones, unless they were already replaced
   * or an earlier rejection forced a refresh less than {@link MIN_FORCED_REFRESH_INTERVAL_MS}
   * ago (then whatever the upstream says, no new fetch: the source is not asked again).
   *
   * @returns true when a request signed with those credentials may be sent again with
   *   others (fresh ones are cached, being fetched, or will be on the next call); false
   *   when the rate limit kept the rejected ones.
   */
  invalidate(accessKeyId?: string): boolean {
    if (!this.cached) {
      // Being fetched (shared by every rejected request), or fetched on the next call
      // unless a forced refresh just happened and failed.
      return (
        this.inFlight !== undefined ||
        Date.now() - this.lastForcedAt >= this.minForcedIntervalMs
      );
    }
    if (accessKeyId !== undefined && this.cached.accessKeyId !== accessKeyId) {
      return true; // replaced since the request was signed
    }
    const now = Date.now();
    if (now - this.lastForcedAt < this.minForcedIntervalMs) {
      this.options.logger?.debug(
        `proxysigv4: the upstream rejected the credentials for ${this.options.label} again; not getting new ones, the last forced refresh was ${Math.round((now - this.lastForcedAt) / 1000)} s ago`,
      );
      return false;
    }
    // Once per credential, however many requests were rejected with it.
    this.options.logger?.warn(
      `proxysigv4: the upstream rejected the credentials for ${this.options.label} as expired or unknown before they were due to expire (clock skew, or revoked sessions?); getting new ones`,
    );
    this.lastForcedAt = now;
    this.rejectedKey = this.cached.accessKeyId;
    this.cached = undefined;
    this.usableUntil = 0;
    this.forceNext = true;
    this.stopTimer();
    return true;
  }

  /** Stops the refresh timer for good (backend shutdown). */
  close(): void {
    this.closed = true;
    this.stopTimer();
  }

  private refreshInBackground() {
    if (this.inFlight || Date.now() < this.retryAt) {
      return;
    }
    // Failures are recorded and logged by refresh(); requests keep the current credentials.
    // Forced: a provider with a cache of its own (the SDK's default chain) would otherwise
    // hand back the same credentials until their last minutes.
    this.refresh(true).catch(() => {});
  }

  /** One fetch, failing after {@link FETCH_TIMEOUT_MS} rather than holding requests forever. */
  private async fetchOnce(forceRefresh: boolean): Promise<AwsCredentialIdentity> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${FETCH_TIMEOUT_MS / 1000} s`)),
        FETCH_TIMEOUT_MS,
      );
      timer.unref();
    });
    try {
      return await Promise.race([this.fetch({ forceRefresh }), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private refresh(force = false): Promise<AwsCredentialIdentity> {
    if (!this.inFlight) {
      this.stopTimer();
      const forceRefresh = force || this.forceNext;
      this.forceNext = false;
      const rejected = this.rejectedKey;
      this.inFlight = this.fetchOnce(forceRefresh)
        .then(credentials =>
          // Rejected credentials came back from a fetch that was not forced (it started
          // before the rejection): ask once more, forced.
          !forceRefresh && rejected !== undefined && credentials.accessKeyId === rejected
            ? this.fetchOnce(true)
            : credentials,
        )
        .then(
        credentials => {
          this.inFlight = undefined;
          this.accept(credentials);
          return credentials;
        },
        error => {
          this.inFlight = undefined;
          this.reject(error);
          throw error;
        },
      );
    }
    return this.inFlight;
  }

  private accept(credentials: AwsCredentialIdentity) {
    const now = Date.now();
    const expiry = credentials.expiration?.getTime();
    if (
      this.cached !== undefined &&
      now < this.usableUntil &&
      credentials.accessKeyId === this.cached.accessKeyId &&
      expiry === this.cached.expiration?.getTime()
    ) {
      // The source has no newer credentials yet (an instance role rotates its own a few
      // minutes before expiry): keep the margin they were first given, and ask again soon.
      this.options.logger?.debug(
        `proxysigv4: the source of ${this.options.label} gave back the same credentials; asking again in ${SAME_CREDENTIALS_RETRY_MS / 1000} s`,
      );
      this.schedule(Math.min(now + SAME_CREDENTIALS_RETRY_MS, this.usableUntil));
      return;
    }
    this.cached = credentials;
    this.used = false;
    if (expiry === undefined || Number.isNaN(expiry)) {
      this.usableUntil = Infinity;
      this.refreshAt = Infinity;
    } else {
      const margin = Math.min(EXPIRY_MARGIN_MS, Math.max(0, expiry - now) / 3);
      this.usableUntil = expiry - margin;
      this.refreshAt = expiry - 2 * margin;
    }
    const { label, logger } = this.options;
    const until =
      expiry === undefined ? 'no expiry' : `valid until ${new Date(expiry).toISOString()}`;
    if (this.failures > 0) {
      logger?.info(
        `proxysigv4: got credentials for ${label} again after ${this.failures} failed attempt(s) (${until})`,
      );
    } else {
      logger?.debug(`proxysigv4: got credentials for ${label} (${until})`);
    }
    this.failures = 0;
    this.lastError = undefined;
    this.retryAt = 0;
    this.schedule(this.refreshAt);
  }

  private reject(error: unknown) {
    const now = Date.now();
    this.failures += 1;
    this.lastError = error;
    const delay = Math.min(
      this.retryDelayMs * 2 ** (this.failures - 1),
      this.maxRetryDelayMs,
    );
    this.retryAt = now + delay;
    const stillUsable = this.cached !== undefined && now < this.usableUntil;
    const { label, logger } = this.options;
    const reason = (error as Error)?.message ?? String(error);
    if (this.failures === 1) {
      logger?.warn(
        stillUsable
          ? `proxysigv4: could not refresh credentials for ${label}; still using the current ones until ${new Date(this.usableUntil).toISOString()}, retrying with backoff: ${reason}`
          : `proxysigv4: could not get credentials for ${label}; requests get 503 until this succeeds, retrying with backoff: ${reason}`,
      );
    } else {
      logger?.debug(
        `proxysigv4: attempt ${this.failures} to get credentials for ${label} failed: ${reason}`,
      );
    }
    if (stillUsable) {
      this.schedule(this.retryAt);
    }
  }

  private schedule(at: number) {
    this.stopTimer();
    if (this.closed || !Number.isFinite(at)) {
      return;
    }
    this.timerAt = at;
    // setTimeout takes at most 2^31-1 ms; a longer wait is re-armed when it fires.
    const delay = Math.min(Math.max(0, at - Date.now()), 2 ** 31 - 1);
    this.timer = setTimeout(() => this.onTimer(), delay);
    this.timer.unref();
  }

  private onTimer() {
    this.timer = undefined;
    if (Date.now() < this.timerAt) {
      this.schedule(this.timerAt);
      return;
    }
    if (!this.used) {
      // Nobody used these credentials since they were fetched: let them lapse rather
      // than call STS forever for an idle route. The next request fetches new ones.
      this.options.logger?.debug(
        `proxysigv4: credentials for ${this.options.label} unused since they were fetched; not refreshing them ahead of expiry`,
      );
      return;
    }
    this.refreshInBackground();
  }

  private stopTimer() {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

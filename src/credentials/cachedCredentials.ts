import { AwsCredentialIdentity } from '@smithy/types';

/**
 * Credentials are refreshed this long before they expire, so none is used in its last
 * minutes; for short-lived credentials, a third of their lifetime instead.
 */
export const EXPIRY_MARGIN_MS = 5 * 60 * 1000;

/** A function that returns credentials, as AWS SDK v3 credential providers do. */
export type CredentialsFetcher = () => Promise<AwsCredentialIdentity>;

/**
 * Wraps a credentials provider in a cache: credentials are fetched once and reused until
 * they come within {@link EXPIRY_MARGIN_MS} (or a third of their lifetime, if shorter) of
 * their expiration; long-term keys never expire.
 * Concurrent callers on a cold or stale cache share one fetch. If a refresh fails while the
 * cached credentials are still valid, those are served; otherwise the error is thrown and
 * the next call tries again.
 */
export function cachedCredentials(
  fetch: CredentialsFetcher,
  now: () => number = Date.now,
): CredentialsFetcher & { invalidate(): void } {
  let cached: AwsCredentialIdentity | undefined;
  let margin = EXPIRY_MARGIN_MS;
  let inFlight: Promise<AwsCredentialIdentity> | undefined;

  const fresh = (c: AwsCredentialIdentity | undefined) =>
    c !== undefined &&
    (c.expiration === undefined ||
      c.expiration.getTime() - now() > margin);
  const valid = (c: AwsCredentialIdentity | undefined) =>
    c !== undefined &&
    (c.expiration === undefined || c.expiration.getTime() > now());

  const refresh = () => {
    if (!inFlight) {
      inFlight = fetch()
        .then(credentials => {
          cached = credentials;
          const lifetime = credentials.expiration
            ? credentials.expiration.getTime() - now()
            : Infinity;
          margin = Math.min(EXPIRY_MARGIN_MS, Math.max(0, lifetime / 3));
          return credentials;
        })
        .finally(() => {
          inFlight = undefined;
        });
    }
    return inFlight;
  };

  const get = async () => {
    if (fresh(cached)) {
      return cached!;
    }
    const stale = cached;
    try {
      return await refresh();
    } catch (error) {
      if (valid(stale)) {
        return stale!;
      }
      throw error;
    }
  };
  return Object.assign(get, {
    invalidate() {
      cached = undefined;
    },
  });
}

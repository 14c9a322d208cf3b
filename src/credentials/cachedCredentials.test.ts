import { mockServices } from '@backstage/backend-test-utils';
import { AwsCredentialIdentity } from '@smithy/types';
import { CredentialsCache, EXPIRY_MARGIN_MS } from './cachedCredentials';

const HOUR = 3600_000;

/** A credentials source that counts its calls and can be told to fail or to wait. */
function source(lifetimeMs?: number) {
  const state = {
    calls: 0,
    forced: [] as boolean[],
    fail: undefined as Error | undefined,
    gate: undefined as Promise<void> | undefined,
  };
  const fetch = async (options?: { forceRefresh?: boolean }): Promise<AwsCredentialIdentity> => {
    const n = ++state.calls;
    state.forced.push(options?.forceRefresh ?? false);
    if (state.gate) await state.gate;
    if (state.fail) throw state.fail;
    return {
      accessKeyId: `K${n}`,
      secretAccessKey: 's',
      ...(lifetimeMs === undefined ? {} : { expiration: new Date(Date.now() + lifetimeMs) }),
    };
  };
  return { state, fetch };
}

/** A promise and the function that resolves it. */
function gate() {
  let open!: () => void;
  const promise = new Promise<void>(r => (open = r));
  return { promise, open };
}

let cache: CredentialsCache | undefined;

beforeEach(() => {
  jest.useFakeTimers({ now: new Date('2026-11-21T12:00:00Z') });
});

afterEach(() => {
  cache?.close();
  cache = undefined;
  jest.useRealTimers();
});

it('fetches long-term credentials once, and sets no timer', async () => {
  const s = source();
  cache = new CredentialsCache(s.fetch, { label: 'test' });
  for (let i = 0; i < 5; i++) {
    expect((await cache.get()).accessKeyId).toBe('K1');
  }
  await jest.advanceTimersByTimeAsync(365 * 24 * HOUR);
  expect((await cache.get()).accessKeyId).toBe('K1');
  expect(s.state.calls).toBe(1);
  expect(jest.getTimerCount()).toBe(0);
});

it('shares one fetch among 100 concurrent callers on a cold cache', async () => {
  const s = source(HOUR);
  const g = gate();
  s.state.gate = g.promise;
  cache = new CredentialsCache(s.fetch, { label: 'test' });
  const all = Promise.all(Array.from({ length: 100 }, () => cache!.get()));
  g.open();
  const results = await all;
  expect(new Set(results.map(r => r.accessKeyId))).toEqual(new Set(['K1']));
  expect(s.state.calls).toBe(1);
});

it('refreshes in the background one margin before the margin, while requests get the current credentials at once', async () => {
  const s = source(HOUR);
  cache = new CredentialsCache(s.fetch, { label: 'test' });
  expect((await cache.get()).accessKeyId).toBe('K1');

  // Just before the refresh point: nothing happens.
  await jest.advanceTimersByTimeAsync(HOUR - 2 * EXPIRY_MARGIN_MS - 1000);
  expect(s.state.calls).toBe(1);

  // At the refresh point the timer starts a fetch; STS is slow to answer.
  const g = gate();
  s.state.gate = g.promise;
  await jest.advanceTimersByTimeAsync(1000);
  expect(s.state.calls).toBe(2);
  // Requests meanwhile are answered from the cache without waiting.
  let answered: string | undefined;
  cache.get().then(c => (answered = c.accessKeyId));
  await Promise.resolve();
  await Promise.resolve();
  expect(answered).toBe('K1');

  g.open();
  await jest.advanceTimersByTimeAsync(0);
  expect((await cache.get()).accessKeyId).toBe('K2');
  expect(s.state.calls).toBe(2);
});

it('never serves credentials within the margin: a third of the lifetime for short-lived ones', async () => {
  const s = source(9000); // margin 3 s: used until 6 s, refreshed from 3 s
  cache = new CredentialsCache(s.fetch, { label: 'test' });
  expect((await cache.get()).accessKeyId).toBe('K1');
  s.state.fail = new Error('STS is down');
  await jest.advanceTimersByTimeAsync(5999);
  // The refresh failed, but K1 is still outside its margin.
  expect(s.state.calls).toBeGreaterThan(1);
  expect((await cache.get()).accessKeyId).toBe('K1');
  await jest.advanceTimersByTimeAsync(1);
  await expect(cache.get()).rejects.toThrow('STS is down');
});

it('keeps serving usable credentials when a refresh fails, retries with backoff, and logs once', async () => {
  const logger = mockServices.logger.mock();
  const s = source(HOUR);
  cache = new CredentialsCache(s.fetch, {
    label: 'role arn:aws:iam::123456789012:role/r',
    logger,
  });
  await cache.get();
  s.state.fail = new Error('Throttling: Rate exceeded');
  await jest.advanceTimersByTimeAsync(HOUR - 2 * EXPIRY_MARGIN_MS);
  expect(s.state.calls).toBe(2);
  // Retries at 1, 2, 4, 8, 10, 10 s after each failure.
  const before = s.state.calls;
  await jest.advanceTimersByTimeAsync(35_000);
  expect(s.state.calls - before).toBe(6);
  for (let i = 0; i < 50; i++) {
    expect((await cache.get()).accessKeyId).toBe('K1');
  }
  expect(logger.warn).toHaveBeenCalledTimes(1);
  expect(String(logger.warn.mock.calls[0][0])).toMatch(
    /could not refresh credentials for role arn:aws:iam::123456789012:role\/r; still using the current ones until .*Throttling: Rate exceeded/,
  );

  s.state.fail = undefined;
  await jest.advanceTimersByTimeAsync(10_000);
  expect((await cache.get()).accessKeyId).not.toBe('K1');
  expect(logger.warn).toHaveBeenCalledTimes(1);
  expect(String(logger.info.mock.calls.at(-1)?.[0])).toMatch(/again after 7 failed attempt/);
});

it('without usable credentials, fails fast during the backoff and tries again after it', async () => {
  const s = source(HOUR);
  s.state.fail = new Error('AccessDenied');
  cache = new CredentialsCache(s.fetch, { label: 'test', retryDelayMs: 1000 });
  await expect(cache.get()).rejects.toThrow('AccessDenied');
  for (let i = 0; i < 10; i++) {
    await expect(cache.get()).rejects.toThrow('AccessDenied');
  }
  expect(s.state.calls).toBe(1);
  s.state.fail = undefined;
  await jest.advanceTimersByTimeAsync(1000);
  expect((await cache.get()).accessKeyId).toBe('K2');
});

it('lets credentials that nobody used since they were fetched lapse, instead of refreshing forever', async () => {
  const s = source(HOUR);
  cache = new CredentialsCache(s.fetch, { label: 'test' });
  await cache.get();
  await jest.advanceTimersByTimeAsync(HOUR); // refreshed once: K1 was used
  expect(s.state.calls).toBe(2);
  await jest.advanceTimersByTimeAsync(5 * HOUR); // K2 never used: no more fetches
  expect(s.state.calls).toBe(2);
  expect((await cache.get()).accessKeyId).toBe('K3');
});

it('drops only the credentials it is told were rejected', async () => {
  const s = source(HOUR);
  cache = new CredentialsCache(s.fetch, { label: 'test' });
  await cache.get();
  cache.invalidate('K0'); // credentials replaced since: keep K1
  expect((await cache.get()).accessKeyId).toBe('K1');
  cache.invalidate('K1');
  expect((await cache.get()).accessKeyId).toBe('K2');
  // The provider is asked to bypass a cache of its own, once.
  expect(s.state.forced).toEqual([false, true]);
});

it('forces one refresh per interval after rejections, shared by every request rejected with the same credentials', async () => {
  const s = source(HOUR);
  cache = new CredentialsCache(s.fetch, { label: 'test', minForcedRefreshIntervalMs: 60_000 });
  await cache.get();
  const g = gate();
  s.state.gate = g.promise;
  expect(cache.invalidate('K1')).toBe(true);
  const fresh = cache.get();
  // A second request rejected with K1 while K2 is being fetched shares that fetch.
  expect(cache.invalidate('K1')).toBe(true);
  g.open();
  s.state.gate = undefined;
  expect((await fresh).accessKeyId).toBe('K2');
  expect(s.state.calls).toBe(2);
  // K2 rejected too, moments later: no new fetch, whatever the upstream says.
  expect(cache.invalidate('K2')).toBe(false);
  expect((await cache.get()).accessKeyId).toBe('K2');
  expect(s.state.calls).toBe(2);
  await jest.advanceTimersByTimeAsync(60_000);
  expect(cache.invalidate('K2')).toBe(true);
  expect((await cache.get()).accessKeyId).toBe('K3');
  expect(s.state.forced).toEqual([false, true, true]);
});

it('does not count a check (peek) as use: the credentials are not refreshed ahead for it', async () => {
  const s = source(HOUR);
  cache = new CredentialsCache(s.fetch, { label: 'test' });
  expect((await cache.peek()).accessKeyId).toBe('K1');
  await jest.advanceTimersByTimeAsync(2 * HOUR);
  expect(s.state.calls).toBe(1);
});

it('stops its timer on close: nothing keeps the process alive or runs after shutdown', async () => {
  const s = source(HOUR);
  cache = new CredentialsCache(s.fetch, { label: 'test' });
  await cache.get();
  expect(jest.getTimerCount()).toBe(1);
  cache.close();
  expect(jest.getTimerCount()).toBe(0);
  await jest.advanceTimersByTimeAsync(2 * HOUR);
  expect(s.state.calls).toBe(1);
});

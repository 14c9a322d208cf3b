import { AwsCredentialIdentity } from '@smithy/types';
import { CredentialsCache, EXPIRY_MARGIN_MS } from './cachedCredentials';

const MIN = 60_000;
const HOUR = 60 * MIN;
let cache: CredentialsCache | undefined;
beforeEach(() => jest.useFakeTimers({ now: new Date('2026-11-21T12:00:00Z') }));
afterEach(() => { cache?.close(); cache = undefined; jest.useRealTimers(); });

/**
 * Like the SDK's default chain (fromNodeProviderChain, which integration-aws-node uses for the
 * main account): memoised; returns the same credentials until 5 min before expiry; within
 * those 5 min it starts a passive refresh and still returns the old ones at once.
 */
function memoisedChain(refreshFails = false) {
  let n = 0;
  let current: AwsCredentialIdentity | undefined;
  let passive: Promise<void> | undefined;
  const issue = () => ({ accessKeyId: `K${++n}`, secretAccessKey: 's', expiration: new Date(Date.now() + HOUR) });
  return async (opts?: { forceRefresh?: boolean }) => {
    if (opts?.forceRefresh || !current || current.expiration!.getTime() < Date.now()) {
      current = issue();
      return current;
    }
    if (current.expiration!.getTime() - Date.now() < 5 * MIN && !passive) {
      passive = new Promise<void>(r => setTimeout(r, 100)).then(() => {
        if (!refreshFails) current = issue();
      }).finally(() => (passive = undefined));
    }
    return current;
  };
}

it.each([false, true])('never signs within 5 min of expiry with a memoised source (refresh fails: %s)', async fails => {
  cache = new CredentialsCache(memoisedChain(fails), { label: 't' });
  let worst = Infinity;
  for (let t = 0; t < HOUR + 10 * MIN; t += 5000) {
    let c: AwsCredentialIdentity;
    try { c = await cache.get(); } catch { await jest.advanceTimersByTimeAsync(5000); continue; }
    const left = c.expiration!.getTime() - Date.now();
    worst = Math.min(worst, left);
    await jest.advanceTimersByTimeAsync(5000);
  }
  expect(worst).toBeGreaterThanOrEqual(EXPIRY_MARGIN_MS);
});

it('does not retry with the rejected credentials when the rejection comes during a background refresh', async () => {
  // A memoised source (SDK default chain) that answers slowly unless forced.
  let current = { accessKeyId: 'K1', secretAccessKey: 's', expiration: new Date(Date.now() + HOUR) };
  const forced: boolean[] = [];
  const fetch = async (o?: { forceRefresh?: boolean }) => {
    forced.push(!!o?.forceRefresh);
    await new Promise(r => setTimeout(r, 1000));
    if (o?.forceRefresh) current = { ...current, accessKeyId: 'K2' };
    return current;
  };
  cache = new CredentialsCache(fetch, { label: 't' });
  await jest.advanceTimersByTimeAsync(0);
  const p0 = cache.get(); await jest.advanceTimersByTimeAsync(1000); expect((await p0).accessKeyId).toBe('K1');
  // Background refresh starts at expiry - 10 min (the route is in use)...
  await cache.get();
  await jest.advanceTimersByTimeAsync(HOUR - 2 * EXPIRY_MARGIN_MS - 500);
  // ...and while it is in flight the upstream rejects K1: the router invalidates and re-signs.
  cache.invalidate('K1');
  const retry = cache.get();
  await jest.advanceTimersByTimeAsync(1000);
  const used = (await retry).accessKeyId;
  expect(used).not.toBe('K1');
});

import { AwsCredentialIdentity } from '@smithy/types';
import { cachedCredentials, EXPIRY_MARGIN_MS } from './cachedCredentials';

function counting(make: (n: number) => Promise<AwsCredentialIdentity>) {
  let calls = 0;
  const fetch = () => make(++calls);
  return { fetch, calls: () => calls };
}

describe('cachedCredentials', () => {
  let now = 1_000_000;
  const clock = () => now;

  it('fetches long-term credentials once', async () => {
    const source = counting(async n => ({ accessKeyId: `K${n}`, secretAccessKey: 's' }));
    const get = cachedCredentials(source.fetch, clock);
    for (let i = 0; i < 5; i++) {
      expect((await get()).accessKeyId).toBe('K1');
    }
    now += 365 * 24 * 3600 * 1000;
    expect((await get()).accessKeyId).toBe('K1');
    expect(source.calls()).toBe(1);
  });

  it('shares one fetch among concurrent callers on a cold cache', async () => {
    let release!: () => void;
    const gate = new Promise<void>(r => (release = r));
    const source = counting(async n => {
      await gate;
      return { accessKeyId: `K${n}`, secretAccessKey: 's' };
    });
    const get = cachedCredentials(source.fetch, clock);
    const all = Promise.all(Array.from({ length: 100 }, () => get()));
    release();
    const results = await all;
    expect(new Set(results.map(r => r.accessKeyId))).toEqual(new Set(['K1']));
    expect(source.calls()).toBe(1);
  });

  it('refetches temporary credentials before they come within the margin of expiry', async () => {
    const source = counting(async n => ({
      accessKeyId: `K${n}`,
      secretAccessKey: 's',
      expiration: new Date(now + 3600_000),
    }));
    const get = cachedCredentials(source.fetch, clock);
    expect((await get()).accessKeyId).toBe('K1');
    now += 3600_000 - EXPIRY_MARGIN_MS - 1_000;
    expect((await get()).accessKeyId).toBe('K1');
    now += 2_000; // now within the margin
    expect((await get()).accessKeyId).toBe('K2');
    expect(source.calls()).toBe(2);
  });

  it('serves still-valid credentials when a refresh fails, and throws once they have expired', async () => {
    let fail = false;
    const source = counting(async n => {
      if (fail) throw new Error('STS down');
      return { accessKeyId: `K${n}`, secretAccessKey: 's', expiration: new Date(now + 60_000) };
    });
    const get = cachedCredentials(source.fetch, clock);
    expect((await get()).accessKeyId).toBe('K1');
    now += 41_000; // within the last third of a 60 s lifetime
    fail = true;
    expect((await get()).accessKeyId).toBe('K1');
    expect(source.calls()).toBe(2);
    now += 20_000;
    await expect(get()).rejects.toThrow('STS down');
    fail = false;
    expect((await get()).accessKeyId).toBe('K4');
  });

  it('uses a third of the lifetime as margin for short-lived credentials', async () => {
    const source = counting(async n => ({
      accessKeyId: `K${n}`,
      secretAccessKey: 's',
      expiration: new Date(now + 90_000),
    }));
    const get = cachedCredentials(source.fetch, clock);
    await get();
    now += 59_000;
    expect((await get()).accessKeyId).toBe('K1');
    now += 2_000;
    expect((await get()).accessKeyId).toBe('K2');
  });

  it('forgets credentials on invalidate', async () => {
    const source = counting(async n => ({ accessKeyId: `K${n}`, secretAccessKey: 's' }));
    const get = cachedCredentials(source.fetch, clock);
    await get();
    get.invalidate();
    expect((await get()).accessKeyId).toBe('K2');
  });
});

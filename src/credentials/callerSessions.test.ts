import { CredentialsCache } from './cachedCredentials';
import { CallerSession, CallerSessions, IDLE_SESSION_DROP_MS, SessionRequest } from './callerSessions';

const request = (name: string, fingerprint = '[]', identity = name): SessionRequest => ({
  caller: { type: 'user', ref: `user:default/${name}` },
  callerKey: `user\nuser:default/${name}`,
  identity,
  tags: [],
  dropped: [],
  fingerprint,
});

function sessions(maxCallers: number, now = () => 0) {
  const made: CallerSession[] = [];
  const closed: string[] = [];
  const store = new CallerSessions(
    r => {
      const cache = new CredentialsCache(async () => ({ accessKeyId: r.identity, secretAccessKey: 's' }), { label: r.identity });
      const close = cache.close.bind(cache);
      cache.close = () => {
        closed.push(r.identity);
        close();
      };
      const session: CallerSession = { ...r, cache, lastUsed: 0 };
      made.push(session);
      return session;
    },
    maxCallers,
    now,
  );
  return { store, made, closed };
}

it('keeps one session per caller, and the same one on every request', () => {
  const { store, made } = sessions(10);
  const a = store.session(request('ann'));
  expect(store.session(request('ann'))).toBe(a);
  expect(store.session(request('ben'))).not.toBe(a);
  expect(made.map(s => s.identity)).toEqual(['ann', 'ben']);
  expect(store.size).toBe(2);
});

it('drops the least recently used beyond maxCallers, stopping its timers', () => {
  const { store, closed, made } = sessions(2);
  store.session(request('ann'));
  store.session(request('ben'));
  store.session(request('ann'));
  store.session(request('cid'));
  expect(closed).toEqual(['ben']);
  expect(store.size).toBe(2);
  const ann = made[0];
  expect(store.session(request('ann'))).toBe(ann);
  expect(made).toHaveLength(3);
  store.session(request('ben'));
  expect(made.map(s => s.identity)).toEqual(['ann', 'ben', 'cid', 'ben']);
});

it('keeps a session per set of tags, so that alternating tags do not cost a session each', () => {
  const { store, closed, made } = sessions(5);
  const teamA = store.session(request('ann', '["team-a"]'));
  const teamB = store.session(request('ann', '["team-b"]'));
  expect(teamB).not.toBe(teamA);
  expect(store.session(request('ann', '["team-a"]'))).toBe(teamA);
  expect(store.session(request('ann', '["team-b"]'))).toBe(teamB);
  expect(made).toHaveLength(2);
  expect(closed).toEqual([]);
});

it('frees an identity only when the last session of its caller is gone', () => {
  const { store } = sessions(2);
  store.session(request('ann', '["a"]'));
  store.session(request('ann', '["b"]'));
  store.session(request('ben')); // drops ann's first session; her second still holds the name
  expect(() => store.session(request('impostor', '[]', 'ann'))).toThrow(/same AWS session name ann/);
  store.session(request('cid')); // drops ann's second
  expect(store.session(request('impostor', '[]', 'ann')).callerKey).toBe(request('impostor').callerKey);
});

it('refuses a second caller whose identity is in use by a live session (fails closed)', () => {
  const { store } = sessions(5);
  store.session(request('ann'));
  expect(() => store.session(request('impostor', '[]', 'ann'))).toThrow(
    /Two Backstage callers map to the same AWS session name ann/,
  );
  // Once the first is gone, the name is free.
  const small = sessions(1);
  small.store.session(request('ann'));
  small.store.session(request('ben'));
  expect(small.store.session(request('impostor', '[]', 'ann')).callerKey).toBe(request('impostor').callerKey);
});

it('lets a session idle for an hour go, even with room to spare', () => {
  let t = 0;
  const { store, closed } = sessions(100, () => t);
  store.session(request('ann'));
  t = IDLE_SESSION_DROP_MS + 1;
  store.session(request('ben'));
  expect(closed).toEqual(['ann']);
  expect(store.size).toBe(1);
});

it('stops every session on close, and the ones made after', () => {
  const { store, closed } = sessions(5);
  store.session(request('ann'));
  store.close();
  store.session(request('ben'));
  expect(closed).toEqual(['ann', 'ben']);
});

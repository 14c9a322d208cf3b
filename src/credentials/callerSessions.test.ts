import { CredentialsCache } from './cachedCredentials';
import {
  CallerSession,
  CallerSessions,
  IDLE_SESSION_DROP_MS,
  MIN_NEW_SESSIONS_PER_MINUTE,
  NEW_SESSIONS_REFILL_MS,
  newSessionsPerMinute,
  SessionRequest,
} from './callerSessions';

const request = (name: string, fingerprint = '[]', identity = name): SessionRequest => ({
  caller: { type: 'user', ref: `user:default/${name}` },
  callerKey: `user\nuser:default/${name}`,
  identity,
  tags: [],
  dropped: [],
  droppedCount: 0,
  fingerprint,
});

/** By default a minute passes per lookup: room for maxCallers new sessions each time. */
function minutePerCall() {
  let t = 0;
  return () => (t += NEW_SESSIONS_REFILL_MS);
}

function sessions(maxCallers: number, now = minutePerCall()) {
  const made: CallerSession[] = [];
  const closed: string[] = [];
  let limited = 0;
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
    () => {
      limited += 1;
    },
  );
  return { store, made, closed, limited: () => limited };
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

it('makes a burst of at most 1000 new sessions (or maxCallers, if more), then as many a minute; known callers are always served', () => {
  let t = 0;
  const { store, made, limited } = sessions(4, () => t);
  const burst = MIN_NEW_SESSIONS_PER_MINUTE;
  for (let i = 0; i < burst; i++) store.session(request(`a${i}`));
  expect(made).toHaveLength(burst);
  expect(() => store.session(request('late'))).toThrow(
    /Too many new callers: this route's credentials make at most 1000 new AWS sessions at once, then 1000 a minute/,
  );
  expect(limited()).toBe(1);
  // A caller with a session is not new (the last four are kept).
  expect(store.session(request(`a${burst - 1}`))).toBe(made[burst - 1]);
  // A thousandth of a minute gives room for one more.
  t = NEW_SESSIONS_REFILL_MS / burst;
  expect(store.session(request('late')).identity).toBe('late');
  expect(() => store.session(request('later'))).toThrow(/Too many new callers/);
  t = 10 * NEW_SESSIONS_REFILL_MS; // never more than a minute's worth saved up
  for (let i = 0; i < burst; i++) store.session(request(`b${i}`));
  expect(() => store.session(request('b-last'))).toThrow(/Too many new callers/);
  expect(newSessionsPerMinute(5000)).toBe(5000);
});

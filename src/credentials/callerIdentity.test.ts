/*
 * The caller-to-session-name mapping: the documented examples, the
 * collisions one can think of, and generated references. Every identity is checked with the
 * local STS's own rules (localAws/stsRules), so the plugin and the STS it is tested against
 * hold one rule set.
 */
/* eslint-disable jest/expect-expect -- fc.assert asserts every property */
import fc from 'fast-check';
import { mockCredentials } from '@backstage/backend-test-utils';
import { validRoleSessionName, validSessionTagValue, validSourceIdentity } from '../../localAws/stsRules';
import { fcParameters } from '../__testUtils__/fcSettings';
import { CallerRef, callerKey, callerOf, readableUser, sessionIdentity } from './callerIdentity';

const user = (ref: string, actor?: string): CallerRef =>
  actor === undefined ? { type: 'user', ref } : { type: 'user', ref, actor };
const service = (subject: string): CallerRef => ({ type: 'service', subject });

/** AWS's rule for both fields, and this mapping's own promises (lower case, no `aws:`). */
function expectValid(identity: string) {
  expect(identity).toMatch(/^[\w+=,.@-]{2,64}$/);
  expect(identity).toBe(identity.toLowerCase());
  expect(identity.toLowerCase().startsWith('aws:')).toBe(false);
  expect(validRoleSessionName(identity)).toBe(true);
  expect(validSourceIdentity(identity)).toBe(true);
  // It is the backstage-caller session tag too.
  expect(validSessionTagValue(identity)).toBe(true);
}

/**
 * Decodes a readable identity (one without `=`) by the documented rules, written here again
 * rather than imported, so that the test does not trust the code it checks: `+` joins a
 * service's parts, one `@` separates a user's name and namespace, anything else is a name in
 * the default namespace.
 */
function decode(identity: string): CallerRef {
  if (identity.includes('=')) throw new Error(`${identity} is hashed, not readable`);
  if (identity.includes('+')) return service(identity.split('+').join(':'));
  const at = identity.split('@');
  if (at.length === 2) return user(`user:${at[1]}/${at[0]}`);
  if (at.length === 1) return user(`user:default/${identity}`);
  throw new Error(`${identity} is no readable identity`);
}

const withoutActor = (caller: CallerRef): CallerRef =>
  caller.type === 'user' ? user(caller.ref) : caller;

describe('callerOf', () => {
  it('reads users (with their actor) and services, and nothing else', () => {
    expect(callerOf(undefined)).toBeUndefined();
    expect(callerOf(mockCredentials.none())).toBeUndefined();
    expect(callerOf(mockCredentials.user('user:default/jane.doe'))).toEqual({
      type: 'user',
      ref: 'user:default/jane.doe',
    });
    expect(callerOf(mockCredentials.user('user:default/jane.doe'))).not.toHaveProperty('actor');
    expect(
      callerOf(mockCredentials.user('user:default/jane.doe', { actor: { subject: 'plugin:scaffolder' } })),
    ).toEqual({ type: 'user', ref: 'user:default/jane.doe', actor: 'plugin:scaffolder' });
    expect(callerOf(mockCredentials.limitedUser('user:default/alice'))).toEqual({
      type: 'user',
      ref: 'user:default/alice',
    });
    expect(callerOf(mockCredentials.service('plugin:catalog'))).toEqual({
      type: 'service',
      subject: 'plugin:catalog',
    });
    const odd = { $$type: '@backstage/BackstageCredentials', principal: { type: 'robot', subject: 'x' } } as const;
    expect(callerOf(odd)).toBeUndefined();
  });
});

describe('callerKey', () => {
  it('is the type and the exact reference, without the actor', () => {
    expect(callerKey(user('user:default/jane.doe'))).toBe('user\nuser:default/jane.doe');
    expect(callerKey(user('user:default/jane.doe', 'plugin:scaffolder'))).toBe('user\nuser:default/jane.doe');
    expect(callerKey(service('user:default/jane.doe'))).toBe('service\nuser:default/jane.doe');
  });
});

describe('sessionIdentity', () => {
  it('gives the documented examples (docs/credentials.md)', () => {
    const examples: [CallerRef, string][] = [
      [user('user:default/jane.doe'), 'jane.doe'],
      [user('user:finance/jane.doe'), 'jane.doe@finance'],
      [user('user:default/Jane.Doe'), 'jane.doe=b4lbnm363ypsuh7t'],
      [user('user:default/jane.doe '), 'jane.doe=22qydypn5mdtgpiu'],
      [user('user:default/a'), 'a=o4bwcqrvtojzvgba'],
      [user(`user:default/${'x'.repeat(63)}`), 'x'.repeat(63)],
      [user("user:default/o'brien"), 'obrien=c43hna7zkpwquckl'],
      [user('user:default/zoë'), 'zo=nwbgz3uvazdkr5om'],
      [user('group:default/jane.doe'), 'groupdefault@jane.doe=mceets4ipbpplhdp'],
      [service('plugin:catalog'), 'plugin+catalog'],
      [service('external:ci-bot'), 'external+ci-bot'],
      [service('external:github:octo-org'), 'external+github+octo-org'],
      [service('bench-caller'), 'bench-caller=dbllt5ahpen62t4r'],
      [service('user:default/jane.doe'), 'user+defaultjane.doe=adfal4umuwej4ltm'],
      [service('external:CI-Bot'), 'external+ci-bot=dd6m34fyruzlq55f'],
      [service('aws:foo'), 'aws+foo'],
    ];
    for (const [caller, identity] of examples) {
      expect({ caller, identity: sessionIdentity(caller) }).toEqual({ caller, identity });
      expectValid(identity);
    }
  });

  it('names the person, not the plugin acting for them', () => {
    expect(sessionIdentity(user('user:default/jane.doe', 'plugin:scaffolder'))).toBe('jane.doe');
  });

  it('keeps apart every pair of the collision list', () => {
    const long = 'a'.repeat(70); // over 64: hashed, with hints that agree
    const groups: CallerRef[][] = [
      // Case.
      [user('user:default/jane.doe'), user('user:default/Jane.Doe'), user('user:default/JANE.DOE'), user('User:default/jane.doe'), user('user:Default/jane.doe')],
      // A user and a service whose subject is the user's ref.
      [user('user:default/jane.doe'), service('user:default/jane.doe'), service('jane.doe'), user('jane.doe')],
      // Name and namespace swapped, and where the `@` goes.
      [user('user:default/jane.doe'), user('user:jane/doe'), user('user:doe/jane'), user('user:default/jane@doe'), user('user:default/doe@jane'), user('user:jane.doe/default'), user('user:default/jane.doe@default')],
      // Punctuation.
      [user('user:default/jane.doe'), user('user:default/jane-doe'), user('user:default/jane_doe'), user('user:default/janedoe'), user('user:default/jane..doe'), user('user:default/.jane.doe')],
      // Subjects and the `+` that joins their parts.
      [service('plugin:catalog'), service('plugin:Catalog'), service('catalog'), service('plugin+catalog'), service('plugin::catalog'), service(':plugin:catalog'), service('plugin:catalog:'), user('user:default/plugin+catalog'), user('user:plugin/catalog')],
      [service('external:a:b'), service('external:a+b'), service('external:a-b'), service('external:a'), service('external:a:b:c')],
      // 64 characters are readable; 65 are hashed.
      [user(`user:default/${'x'.repeat(64)}`), user(`user:default/${'x'.repeat(65)}`), user(`user:default/${'x'.repeat(63)}`), user(`user:finance/${'x'.repeat(56)}`), user(`user:finance/${'x'.repeat(57)}`), service(`p:${'x'.repeat(62)}`), service(`p:${'x'.repeat(63)}`)],
      // One character.
      [user('user:default/a'), user('user:default/b'), user('user:default/A'), service('a'), service('b'), service('a:b'), user('user:a/b')],
      // Spaces.
      [user('user:default/jane.doe'), user('user:default/jane.doe '), user(' user:default/jane.doe'), user('user:default/jane .doe'), user('user:default/jane  .doe'), user('user:default /jane.doe'), service('plugin:catalog '), service('plugin: catalog')],
      // Unicode look-alikes: é and e, NFC and NFD, a Cyrillic а, the Kelvin sign.
      [user('user:default/zoe'), user('user:default/zoë'), user('user:default/zoe\u0308'), user('user:default/zo'), user('user:default/jаne'), user('user:default/jane'), user('user:default/\u212aate'), user('user:default/kate')],
      // aws: prefixes.
      [service('aws:foo'), service('aws:Foo'), service('AWS:foo'), service('aws:'), service('aws'), service('aws+foo'), user('user:aws/foo'), user('aws:foo')],
      // Empty references.
      [service(''), user(''), user('user:default/'), user('user:/'), service(':'), service('::'), user('user:default/ '), service(' ')],
      // Long references whose hints agree (47 characters) and differ after.
      [user(`user:default/${long}x`), user(`user:default/${long}y`), user(`user:default/${long}X`), service(`${long}:x`), service(`${long}:y`), service(`${long}:${long}`)],
    ];
    for (const group of groups) {
      const byIdentity = new Map<string, string>();
      for (const caller of group) {
        const identity = sessionIdentity(caller);
        expectValid(identity);
        const key = callerKey(caller);
        const other = byIdentity.get(identity);
        expect({ identity, keys: [other ?? key, key] }).toEqual({ identity, keys: [key, key] });
        byIdentity.set(identity, key);
      }
      expect(byIdentity.size).toBe(new Set(group.map(callerKey)).size);
    }
    // Long hashed references do share their hint: only the hash tells them apart.
    const [a, b] = [user(`user:default/${long}x`), user(`user:default/${long}y`)].map(sessionIdentity);
    expect(a.split('=')[0]).toBe(b.split('=')[0]);
  });

  it('hashes exactly the references it cannot show as they are', () => {
    expect(sessionIdentity(user(`user:default/${'x'.repeat(64)}`))).toBe('x'.repeat(64));
    expect(sessionIdentity(user(`user:default/${'x'.repeat(65)}`))).toMatch(/^x{47}=[a-z2-7]{16}$/);
    expect(sessionIdentity(user(`user:finance/${'x'.repeat(56)}`))).toBe(`${'x'.repeat(56)}@finance`);
    expect(sessionIdentity(user(`user:finance/${'x'.repeat(57)}`))).toMatch(/=[a-z2-7]{16}$/);
    expect(sessionIdentity(user('user:default/ab'))).toBe('ab');
    expect(sessionIdentity(service('a:b'))).toBe('a+b');
    expect(sessionIdentity(service(''))).toMatch(/^=[a-z2-7]{16}$/);
  });
});

describe('readableUser', () => {
  it('shows only lower-case names in a DNS-label namespace', () => {
    expect(readableUser('user:default/a')).toBe('a');
    expect(readableUser('user:finance/jane.doe')).toBe('jane.doe@finance');
    expect(readableUser('user:default/Jane')).toBeUndefined();
    expect(readableUser('User:default/jane')).toBeUndefined();
    expect(readableUser('group:default/jane')).toBeUndefined();
    expect(readableUser('user:fin_ance/jane')).toBeUndefined();
    expect(readableUser('user:default/a/b')).toBeUndefined();
    expect(readableUser('user:default/a@b')).toBeUndefined();
  });
});

// -----------------------------------------------------------------------------------------
// Generated references

/** Characters that stress the mapping: case, its punctuation and markers, AWS's, Unicode. */
const ALPHABET = ['a', 'A', '0', '.', '_', '-', ':', '/', '+', '@', '=', ',', 'é', 'e\u0301', ' '];
const text = (maxLength: number) =>
  fc.string({ unit: fc.constantFrom(...ALPHABET), maxLength });
const word = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9]{1,3}([-_.][a-z0-9]{1,3}){0,2}$/) },
  { weight: 2, arbitrary: text(6) },
  { weight: 1, arbitrary: fc.constantFrom('default', 'Default', 'finance', 'jane.doe', 'a', '', 'x'.repeat(60)) },
);

const userRef = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(word, word).map(([ns, name]) => `user:${ns}/${name}`) },
  { weight: 2, arbitrary: word.map(name => `user:default/${name}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('User', 'group', 'user', ''), word, word).map(([k, ns, name]) => `${k}:${ns}/${name}`) },
  { weight: 1, arbitrary: text(12) },
);
const subject = fc.oneof(
  { weight: 3, arbitrary: fc.array(word, { minLength: 2, maxLength: 4 }).map(parts => parts.join(':')) },
  { weight: 2, arbitrary: text(12) },
  { weight: 1, arbitrary: userRef },
);
const caller: fc.Arbitrary<CallerRef> = fc.oneof(
  fc.tuple(userRef, fc.option(subject, { nil: undefined })).map(([ref, actor]) => user(ref, actor)),
  subject.map(service),
);

describe('sessionIdentity on generated references', () => {
  it('always gives a valid, lower-case identity, never starting with aws:', () => {
    fc.assert(
      fc.property(caller, c => {
        expectValid(sessionIdentity(c));
      }),
      fcParameters(2000),
    );
  });

  it('never gives two callers the same identity', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(caller, { minLength: 3000, maxLength: 5000, selector: callerKey }),
        callers => {
          const byIdentity = new Map<string, string>();
          for (const c of callers) {
            const identity = sessionIdentity(c);
            const other = byIdentity.get(identity);
            if (other !== undefined) {
              throw new Error(`${JSON.stringify(other)} and ${JSON.stringify(callerKey(c))} both give ${identity}`);
            }
            byIdentity.set(identity, callerKey(c));
          }
        },
      ),
      fcParameters(10),
    );
  });

  it('decodes every readable identity back to its caller, and names the person not the actor', () => {
    fc.assert(
      fc.property(caller, c => {
        const identity = sessionIdentity(c);
        const person = withoutActor(c);
        expect(sessionIdentity(person)).toBe(identity);
        const hashed = identity.includes('=');
        expect({ identity, decoded: hashed ? 'hashed' : decode(identity) }).toEqual({
          identity,
          decoded: hashed ? 'hashed' : person,
        });
        expect(identity).toMatch(/^(?:[a-z0-9_.@+-]{2,64}|[a-z0-9+.@_-]{0,47}=[a-z2-7]{16})$/);
      }),
      fcParameters(2000),
    );
  });
});

/*
 * Session tags of a caller's own session: the fixed cases, and generated
 * group lists. Every request's tags are checked with the local STS's own rules
 * (localAws/stsRules: patterns, lengths, `aws:`, at most 50, keys unique without case), so
 * the plugin and the STS it is tested against hold one rule set. The packed size is STS's
 * to judge (withoutGroupTags is the answer to it), so the checks here give it no budget.
 */
import fc from 'fast-check';
import {
  MAX_SESSION_TAGS,
  sameTagKey,
  validSessionTag,
  validateAssumeRole,
} from '../../localAws/stsRules';
import { fcParameters } from '../__testUtils__/fcSettings';
import { CallerRef, sessionIdentity } from './callerIdentity';
import {
  EncodedTags,
  MAX_GROUP_TAGS_LIMIT,
  SessionTag,
  encodeSessionTags,
  withoutGroupTags,
} from './sessionTags';

type UserCaller = Extract<CallerRef, { type: 'user' }>;
const user = (ref: string, actor?: string): UserCaller =>
  actor === undefined ? { type: 'user', ref } : { type: 'user', ref, actor };
const service = (subject: string): CallerRef => ({ type: 'service', subject });

const encode = (caller: CallerRef, groups: readonly string[] | undefined, maxGroupTags = 40) =>
  encodeSessionTags(caller, sessionIdentity(caller), groups, { maxGroupTags });

/** The tags as AssumeRole would send them pass the local STS, also all made transitive. */
function expectStsAccepts(identity: string, tags: SessionTag[]) {
  expect(tags.length).toBeLessThanOrEqual(MAX_SESSION_TAGS);
  expect(tags.filter(tag => !validSessionTag(tag.Key, tag.Value))).toEqual([]);
  const clashes = tags.flatMap((a, i) => tags.slice(i + 1).filter(b => sameTagKey(a.Key, b.Key)));
  expect(clashes).toEqual([]);
  const sent = tags.map(t => ({ key: t.Key, value: t.Value }));
  for (const transitiveTagKeys of [[], tags.map(t => t.Key)]) {
    expect(
      validateAssumeRole(
        { roleSessionName: identity, sourceIdentity: identity, tags: sent, transitiveTagKeys },
        { packedBudgetBytes: Number.MAX_SAFE_INTEGER },
      ),
    ).toBeUndefined();
  }
}

const valueOf = (encoded: EncodedTags, key: string) => encoded.tags.find(t => t.Key === key)?.Value;
const groupValues = (encoded: EncodedTags) =>
  encoded.tags.filter(t => /^backstage-group-\d+$/.test(t.Key)).map(t => t.Value);

const jane = user('user:default/jane.doe');

describe('encodeSessionTags', () => {
  it('names the user and their groups: default and other namespaces, sorted, once each', () => {
    const encoded = encode(jane, [
      'user:default/jane.doe',
      'group:default/team-b',
      'group:finance/team-a',
      'group:default/team-a',
      'component:default/service-x',
      'user:default/bob',
      'group:default/team-a',
      'group:team-a',
      'Group:default/team-c',
    ]);
    expect(encoded).toEqual({
      tags: [
        { Key: 'backstage-caller', Value: 'jane.doe' },
        { Key: 'backstage-caller-type', Value: 'user' },
        { Key: 'backstage-user', Value: 'jane.doe' },
        { Key: 'backstage-groups', Value: 'complete' },
        { Key: 'backstage-group-1', Value: 'team-a' },
        { Key: 'backstage-group-2', Value: 'team-a@finance' },
        { Key: 'backstage-group-3', Value: 'team-b' },
        { Key: 'backstage-group-4', Value: 'team-c' },
      ],
      dropped: [],
    });
    expectStsAccepts('jane.doe', encoded.tags);
    expect(valueOf(encode(user('user:finance/jane.doe'), []), 'backstage-user')).toBe('jane.doe@finance');
  });

  it('drops, never cuts or changes, a group whose value does not fit, and says partial', () => {
    const exactly256 = `group:default/${'a'.repeat(256)}`;
    const encoded = encode(jane, [
      'group:default/team-a',
      exactly256,
      `group:default/${'b'.repeat(257)}`,
      `group:finance/${'c'.repeat(248)}`, // 248 + '@finance' = 256: fits
      `group:finance/${'d'.repeat(249)}`, // 257 with its namespace
      'group:default/日本',
      'group:default/zoë', // NFC: a letter
      'group:default/zoe\u0301', // NFD: a combining mark, not a letter
      'group:default/team😀',
      'group:default/team#1',
      "group:default/o'brien",
      'group:default/aws:admins',
      'group:default/AWS:x',
      'group:aws:x/y', // y@aws:x: a namespace with a colon is still one group's value
      'group:default/a@finance', // would pose as group a of finance
      'group:finance/a',
      'group:default/a/b', // a slash would reach into another team's prefix
      'group:default/',
      'group:',
    ]);
    expect(valueOf(encoded, 'backstage-groups')).toBe('partial');
    expect(groupValues(encoded)).toEqual(
      ['a'.repeat(256), `${'c'.repeat(248)}@finance`, 'a@finance', 'team-a', 'y@aws:x', 'zoë', '日本'].sort(),
    );
    expect(encoded.dropped).toEqual(
      [
        { ref: `group:default/${'b'.repeat(257)}`, reason: 'too-long' },
        { ref: `group:finance/${'d'.repeat(249)}`, reason: 'too-long' },
        { ref: 'group:default/zoe\u0301', reason: 'characters' },
        { ref: 'group:default/team😀', reason: 'characters' },
        { ref: 'group:default/team#1', reason: 'characters' },
        { ref: "group:default/o'brien", reason: 'characters' },
        { ref: 'group:default/aws:admins', reason: 'aws-prefix' },
        { ref: 'group:default/AWS:x', reason: 'aws-prefix' },
        { ref: 'group:default/a@finance', reason: 'characters' },
        { ref: 'group:default/a/b', reason: 'characters' },
        { ref: 'group:default/', reason: 'characters' },
        { ref: 'group:', reason: 'characters' },
      ].sort((a, b) => (a.ref < b.ref ? -1 : 1)),
    );
    expectStsAccepts('jane.doe', encoded.tags);
  });

  it('keeps exactly maxGroupTags groups, the first in sorted order, and drops the rest as too-many', () => {
    const groups = ['group:default/d', 'group:default/b', 'group:default/c', 'group:default/a'];
    const three = encode(jane, groups.slice(0, 3), 3);
    expect(valueOf(three, 'backstage-groups')).toBe('complete');
    expect(groupValues(three)).toEqual(['b', 'c', 'd']);
    expect(three.dropped).toEqual([]);

    const four = encode(jane, groups, 3);
    expect(valueOf(four, 'backstage-groups')).toBe('partial');
    expect(groupValues(four)).toEqual(['a', 'b', 'c']);
    expect(four.dropped).toEqual([{ ref: 'group:default/d', reason: 'too-many' }]);

    const none = encode(jane, groups, 0);
    expect(groupValues(none)).toEqual([]);
    expect(valueOf(none, 'backstage-groups')).toBe('partial');
    expect(none.dropped.map(d => d.reason)).toEqual(['too-many', 'too-many', 'too-many', 'too-many']);
    expect(valueOf(encode(jane, ['user:default/jane.doe'], 0), 'backstage-groups')).toBe('complete');
  });

  it('fits 50 tags at the ceiling of maxGroupTags, and refuses a maxGroupTags past it', () => {
    expect(MAX_GROUP_TAGS_LIMIT).toBe(45);
    const groups = Array.from({ length: 60 }, (_, i) => `group:default/team-${String(i).padStart(2, '0')}`);
    const caller = user('user:default/jane.doe', 'plugin:scaffolder');
    const encoded = encode(caller, groups, MAX_GROUP_TAGS_LIMIT);
    expect(encoded.tags).toHaveLength(50);
    expect(encoded.dropped).toHaveLength(15);
    expectStsAccepts('jane.doe', encoded.tags);
    for (const maxGroupTags of [MAX_GROUP_TAGS_LIMIT + 1, -1, 1.5, Number.NaN]) {
      expect(() => encodeSessionTags(caller, 'jane.doe', groups, { maxGroupTags })).toThrow(RangeError);
    }
  });

  it('marks the groups partial when the user info is unavailable', () => {
    expect(encode(jane, undefined)).toEqual({
      tags: [
        { Key: 'backstage-caller', Value: 'jane.doe' },
        { Key: 'backstage-caller-type', Value: 'user' },
        { Key: 'backstage-user', Value: 'jane.doe' },
        { Key: 'backstage-groups', Value: 'partial' },
      ],
      dropped: [{ ref: 'user:default/jane.doe', reason: 'user-info-unavailable' }],
    });
  });

  it('gives a service caller no user or group tags', () => {
    const expected = {
      tags: [
        { Key: 'backstage-caller', Value: 'plugin+catalog' },
        { Key: 'backstage-caller-type', Value: 'service' },
      ],
      dropped: [],
    };
    expect(encode(service('plugin:catalog'), undefined)).toEqual(expected);
    expect(encode(service('plugin:catalog'), ['group:default/team-a'])).toEqual(expected);
    expect(withoutGroupTags(expected)).toEqual(expected);
  });

  it('names the actor when its subject is a valid value', () => {
    const acting = encode(user('user:default/jane.doe', 'plugin:scaffolder'), []);
    expect(valueOf(acting, 'backstage-actor')).toBe('plugin:scaffolder');
    expect(valueOf(acting, 'backstage-caller')).toBe('jane.doe');
    const odd = encode(user('user:default/jane.doe', 'plugin:scaffolder#x'), []);
    expect(valueOf(odd, 'backstage-actor')).toBeUndefined();
    expect(odd.dropped).toEqual([{ ref: 'plugin:scaffolder#x', reason: 'characters' }]);
    expect(valueOf(odd, 'backstage-groups')).toBe('complete');
    expect(encode(user('user:default/jane.doe', 'aws:x'), []).dropped).toEqual([{ ref: 'aws:x', reason: 'aws-prefix' }]);
  });

  it('names an unreadable user by the exact ref, or leaves the user tag out', () => {
    expect(valueOf(encode(user('user:default/Jane.Doe'), []), 'backstage-user')).toBe('user:default/Jane.Doe');
    expect(valueOf(encode(user('user:default/a'), []), 'backstage-user')).toBe('a');
    // Never lower-cased: the Kelvin sign lower-cases to k, and two users would share a home.
    expect(valueOf(encode(user('user:default/\u212Aate'), []), 'backstage-user')).toBe('user:default/\u212Aate');
    expect(valueOf(encode(user('user:default/Kate'), []), 'backstage-user')).toBe('user:default/Kate');
    const cases: [string, string][] = [
      ["user:default/o'brien", 'characters'],
      ['jane.doe', 'characters'], // as is, it would be user:default/jane.doe's value
      // A prefix of another user's value would reach into their home/<value>/ prefix.
      ['user:default/Team/Alice', 'characters'],
      ['user:default/a@b', 'characters'],
      ['user:a:b/c', 'characters'],
      [`user:default/${'x'.repeat(300)}`, 'too-long'],
      ['aws:user/x', 'aws-prefix'],
    ];
    for (const [ref, reason] of cases) {
      const encoded = encode(user(ref), []);
      expect(valueOf(encoded, 'backstage-user')).toBeUndefined();
      expect(encoded.dropped).toEqual([{ ref, reason }]);
      expect(valueOf(encoded, 'backstage-groups')).toBe('complete');
      expectStsAccepts(sessionIdentity(user(ref)), encoded.tags);
    }
  });

  it('refuses an identity that cannot be a tag value', () => {
    expect(() => encodeSessionTags(jane, 'a,b', [], { maxGroupTags: 1 })).toThrow(TypeError);
    expect(() => encodeSessionTags(jane, 'x', [], { maxGroupTags: 1 })).toThrow(TypeError);
  });
});

describe('withoutGroupTags', () => {
  it('leaves out every group, says partial, and lists each by its canonical ref', () => {
    const encoded = encode(jane, ['group:default/team-b', 'group:finance/team-a', 'group:default/a@x', 'group:team-c'], 2);
    const retried = withoutGroupTags(encoded);
    expect(retried).toEqual({
      tags: [
        { Key: 'backstage-caller', Value: 'jane.doe' },
        { Key: 'backstage-caller-type', Value: 'user' },
        { Key: 'backstage-user', Value: 'jane.doe' },
        { Key: 'backstage-groups', Value: 'partial' },
      ],
      dropped: [
        { ref: 'group:default/a@x', reason: 'characters' },
        { ref: 'group:default/team-b', reason: 'packed-size' },
        { ref: 'group:finance/team-a', reason: 'packed-size' },
        { ref: 'group:team-c', reason: 'too-many' },
      ],
    });
    expect(withoutGroupTags(retried)).toEqual(retried);
  });

  it('reports a group spelled several ways by the same ref, whatever the order', () => {
    const spellings = ['group:z', 'Group:default/z', 'group:default/z'];
    for (const order of [spellings, [...spellings].reverse(), [spellings[1], spellings[2], spellings[0]]]) {
      expect(encode(jane, ['group:default/a', ...order], 1).dropped).toEqual([{ ref: 'Group:default/z', reason: 'too-many' }]);
      expect(groupValues(encode(jane, order, 1))).toEqual(['z']);
    }
    expect(withoutGroupTags(encode(jane, undefined))).toEqual(encode(jane, undefined));
  });
});

// -----------------------------------------------------------------------------------------
// Generated group lists

/**
 * The test's own reading of a group ref (independent of the code): the kind before the
 * first `:` is `group` in any case, the namespace before the first `/` (default if none),
 * the value `<name>` or `<name>@<namespace>`. Undefined for other kinds.
 */
function expectedValue(ref: string): string | undefined {
  const match = /^([^:]*):(?:([^/]*)\/)?([^]*)$/.exec(ref);
  if (!match || match[1].toLowerCase() !== 'group') return undefined;
  const namespace = match[2] ?? 'default';
  return namespace === 'default' ? match[3] : `${match[3]}@${namespace}`;
}

const name = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9]{1,4}(-[a-z0-9]{1,4}){0,2}$/) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('a', 'A', ':', '/', '@', '#', ' ', 'é', 'e\u0301', '日'), maxLength: 6 }) },
  { weight: 1, arbitrary: fc.integer({ min: 240, max: 270 }).map(n => 'n'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom('aws:admins', 'AWS:x', 'aws', 'team-a', 'team-a@finance', '') },
);
const groupRef = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom('default', 'default', 'finance', 'ops-1'), name).map(([ns, n]) => `group:${ns}/${n}`) },
  { weight: 1, arbitrary: name.map(n => `group:${n}`) },
  { weight: 1, arbitrary: fc.tuple(name, name).map(([ns, n]) => `group:${ns}/${n}`) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('user', 'component', 'Group', 'GROUP', 'groups', ''), name).map(([k, n]) => `${k}:default/${n}`) },
  { weight: 1, arbitrary: fc.constant('user:default/jane.doe') },
  // One group spelled several ways (Backstage reads them all as group:default/<name>).
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.constantFrom('group:default/', 'group:', 'Group:default/', 'GROUP:'), fc.constantFrom('t1', 't2', 't3', 'u1', 'u2'))
      .map(([prefix, n]) => `${prefix}${n}`),
  },
);
/** A list, with some refs repeated, and the same list in another order. */
const groupLists = fc
  .integer({ min: 0, max: 200 })
  .chain(length => fc.array(groupRef, { minLength: length, maxLength: length }))
  .chain(refs => fc.tuple(fc.constant(refs), fc.subarray(refs)))
  .map(([refs, again]) => [...refs, ...again])
  .chain(refs =>
    fc.tuple(fc.constant(refs), fc.shuffledSubarray(refs, { minLength: refs.length, maxLength: refs.length })),
  );
/** Users whose own tags always fit, so that everything dropped is a group. */
const readableUser = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9]{1,8}(\.[a-z0-9]{1,8})?$/),
    fc.constantFrom('default', 'finance'),
    fc.option(fc.constantFrom('plugin:scaffolder', 'plugin:catalog'), { nil: undefined }),
  )
  .map(([n, ns, actor]) => user(`user:${ns}/${n}`, actor));

describe('encodeSessionTags on generated group lists', () => {
  it('always sends tags STS accepts, never cut, partial exactly when something was dropped, in any order', () => {
    fc.assert(
      fc.property(
        readableUser,
        groupLists,
        fc.integer({ min: 0, max: MAX_GROUP_TAGS_LIMIT }),
        (caller, [groups, shuffled], maxGroupTags) => {
          const identity = sessionIdentity(caller);
          const encoded = encodeSessionTags(caller, identity, groups, { maxGroupTags });
          expectStsAccepts(identity, encoded.tags);

          // Never cut or changed: each group value is exactly the value of an input ref.
          const values = groupValues(encoded);
          const given = new Set(groups.filter(r => r !== caller.ref).map(expectedValue));
          for (const value of values) expect(given.has(value)).toBe(true);
          expect(values).toEqual([...new Set(values)].sort());
          expect(values.length).toBeLessThanOrEqual(maxGroupTags);
          expect(encoded.tags.filter(t => t.Key.startsWith('backstage-group-')).map(t => t.Key)).toEqual(
            values.map((_, i) => `backstage-group-${i + 1}`),
          );

          // Nothing lost without a word: every group is a tag or dropped (by that ref, or
          // as too-many by another ref of the same group); nothing else is either.
          const droppedRefs = new Set(encoded.dropped.map(d => d.ref));
          const tooMany = new Set(encoded.dropped.filter(d => d.reason === 'too-many').map(d => expectedValue(d.ref)));
          const unaccounted = groups.filter(ref => {
            const value = expectedValue(ref);
            if (value === undefined || ref === caller.ref) return droppedRefs.has(ref);
            return !values.includes(value) && !droppedRefs.has(ref) && !tooMany.has(value);
          });
          expect(unaccounted).toEqual([]);

          expect(valueOf(encoded, 'backstage-groups')).toBe(encoded.dropped.length > 0 ? 'partial' : 'complete');
          expect(encodeSessionTags(caller, identity, shuffled, { maxGroupTags })).toEqual(encoded);

          const retried = withoutGroupTags(encoded);
          expectStsAccepts(identity, retried.tags);
          expect(groupValues(retried)).toEqual([]);
          expect(valueOf(retried, 'backstage-groups')).toBe('partial');
        },
      ),
      fcParameters(300),
    );
  });

  it('sends valid tags for any caller, actor and group list', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'A', ':', '/', '@', '#', ' ', ',', 'é', 'e\u0301', 'aws:'), maxLength: 12 });
    const anyCaller: fc.Arbitrary<CallerRef> = fc.oneof(
      fc.tuple(fc.oneof(text, text.map(t => `user:default/${t}`)), fc.option(text, { nil: undefined })).map(([r, a]) => user(r, a)),
      text.map(service),
    );
    fc.assert(
      fc.property(
        anyCaller,
        fc.option(fc.array(groupRef, { maxLength: 60, size: 'max' }), { nil: undefined }),
        fc.integer({ min: 0, max: MAX_GROUP_TAGS_LIMIT }),
        (caller, groups, maxGroupTags) => {
          const identity = sessionIdentity(caller);
          const encoded = encodeSessionTags(caller, identity, groups, { maxGroupTags });
          expectStsAccepts(identity, encoded.tags);
          expectStsAccepts(identity, withoutGroupTags(encoded).tags);
          expect(valueOf(encoded, 'backstage-caller')).toBe(identity);
        },
      ),
      fcParameters(500),
    );
  });
});

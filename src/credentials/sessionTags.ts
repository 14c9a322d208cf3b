/*
 * The session tags of a caller's own role session (sessionPerCaller): who the caller is and,
 * for a user, their Backstage groups, so that an IAM policy can grant by user and by team
 * through `aws:PrincipalTag/<key>`. Pure, so that it can be tested on generated input.
 *
 * Fail closed: a tag that is missing or marked partial can only lose an Allow (policies use
 * these tags only to grant; docs/security.md). So a value is never cut or changed to fit:
 * `team-abc` cut to `team-a` would name another team. What does not fit is left out and
 * listed in `dropped`, and `backstage-groups` says `partial`.
 */
import { CallerRef, readableUser } from './callerIdentity';

/** A session tag in the shape of `@aws-sdk/client-sts`'s `Tag`. */
export interface SessionTag {
  Key: string;
  Value: string;
}

/**
 * Why a reference got no tag: its value would be over 256 characters (`too-long`), have
 * characters session tags do not allow or that would make it ambiguous (`characters`), or
 * start with `aws:` (`aws-prefix`); there were more groups than `maxGroupTags` (`too-many`);
 * STS found the tags too large (`packed-size`, {@link withoutGroupTags}); or the user's
 * groups could not be looked up (`user-info-unavailable`).
 */
export type DropReason =
  | 'too-long'
  | 'characters'
  | 'aws-prefix'
  | 'too-many'
  | 'packed-size'
  | 'user-info-unavailable';

/** A reference (group ref, the user's own ref, or the actor's subject) left out, and why. */
export interface DroppedTag {
  ref: string;
  reason: DropReason;
}

export interface EncodedTags {
  tags: SessionTag[];
  /** Sorted by ref, then reason; each pair once. */
  dropped: DroppedTag[];
}

/** Every key starts with `backstage-`: lower case, ASCII, no `:`, none a case variant of another. */
const CALLER = 'backstage-caller';
const CALLER_TYPE = 'backstage-caller-type';
const USER = 'backstage-user';
const ACTOR = 'backstage-actor';
const GROUPS = 'backstage-groups';
const GROUP_PREFIX = 'backstage-group-';
const GROUP_KEY = /^backstage-group-\d+$/;

/** AWS's limit on session tags per AssumeRole. */
const MAX_TAGS = 50;
/** The tags that are not groups: caller, caller type, user, actor, groups. */
const FIXED_TAGS = [CALLER, CALLER_TYPE, USER, ACTOR, GROUPS].length;

/** The ceiling of `maxGroupTags`: 50 tags minus the five that are not groups, so 45. */
export const MAX_GROUP_TAGS_LIMIT: number = MAX_TAGS - FIXED_TAGS;

/** Whether any of `tags` is a group tag (`backstage-group-N`): what {@link withoutGroupTags} leaves out. */
export function hasGroupTags(tags: readonly SessionTag[]): boolean {
  return tags.some(tag => GROUP_KEY.test(tag.Key));
}

const VALUE_MAX_LENGTH = 256;
/** Session tag values: Unicode letters, separators and numbers, and `_.:/=+-@` (AWS's Tag). */
const VALUE_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

/**
 * Why `value` cannot be a session tag value, or undefined when it can. Length in UTF-16 code
 * units: never fewer than AWS's characters, so anything kept here fits AWS.
 */
function valueProblem(value: string): DropReason | undefined {
  if (value.length > VALUE_MAX_LENGTH) return 'too-long';
  if (!VALUE_PATTERN.test(value)) return 'characters';
  if (/^aws:/i.test(value)) return 'aws-prefix';
  return undefined;
}

/** Code-unit order: the same on every machine and locale. */
function byText(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function sortDropped(dropped: DroppedTag[]): DroppedTag[] {
  const unique = new Map(dropped.map(d => [`${d.ref}\n${d.reason}`, d]));
  return [...unique.values()].sort((a, b) => byText(a.ref, b.ref) || byText(a.reason, b.reason));
}

/**
 * A group's tag value, or why it has none; undefined when the ref is not a group's. Kind
 * `group` (Backstage compares kinds without case); the namespace defaults to `default` as in
 * Backstage's parseEntityRef. `<name>` in the default namespace, `<name>@<namespace>` in
 * another, both exactly as written. One value names one group and no other: a name or
 * namespace with `@` or `/` is refused (`characters`), so `a@finance` cannot pose as group
 * `a` of `finance`, and no value can reach into another team's `teams/<group>/` prefix.
 */
function groupValue(ref: string): { value: string } | { reason: DropReason } | undefined {
  const colon = ref.indexOf(':');
  if (colon < 0 || !/^group$/i.test(ref.slice(0, colon))) return undefined;
  const rest = ref.slice(colon + 1);
  const slash = rest.indexOf('/');
  const namespace = slash < 0 ? 'default' : rest.slice(0, slash);
  const name = slash < 0 ? rest : rest.slice(slash + 1);
  const value = namespace === 'default' ? name : `${name}@${namespace}`;
  const problem = valueProblem(value);
  if (problem === 'too-long') return { reason: problem };
  if (name === '' || namespace === '' || /[@/]/.test(name) || /[@/]/.test(namespace)) {
    return { reason: 'characters' };
  }
  return problem ? { reason: problem } : { value };
}

/**
 * The `backstage-user` value: the readable form (`jane.doe`, `jane.doe@finance`), else the
 * exact ref when it is `user:<namespace>/<name>` with no further `/`, `:` or `@` and a valid
 * value. Never lower-cased (`Kate` and `\u212Aate`, the Kelvin sign, would meet) and never with
 * a second `/` (`user:default/team` would be a prefix of `user:default/team/alice`, and a
 * policy's `home/${aws:PrincipalTag/backstage-user}/*` would reach into the other's home).
 * Readable forms never contain `:`, so the two kinds of value cannot name one user twice.
 */
function userValue(ref: string): { value: string } | { reason: DropReason } {
  const readable = readableUser(ref);
  if (readable !== undefined && valueProblem(readable) === undefined) return { value: readable };
  const problem = valueProblem(ref) ?? (/^user:[^/:@]+\/[^/:@]+$/.test(ref) ? undefined : 'characters');
  return problem ? { reason: problem } : { value: ref };
}

/**
 * The session tags of `caller`, whose session is named `identity` (from sessionIdentity):
 *
 * | key                                 | value                                           | when |
 * |-------------------------------------|-------------------------------------------------|------|
 * | `backstage-caller`                  | `identity`                                      | always |
 * | `backstage-caller-type`             | `user` or `service`                             | always |
 * | `backstage-user`                    | `jane.doe`, `jane.doe@finance`, or the exact ref      | users, when it fits |
 * | `backstage-actor`                   | the acting plugin's subject, `plugin:scaffolder` | users with an actor, when it fits |
 * | `backstage-groups`                  | `complete`, or `partial` when a group was left out | users |
 * | `backstage-group-1` ... `-N`        | `team-a`, `team-a@finance`: one group each, sorted, no repeats | users |
 *
 * `groups` is the user's ownershipEntityRefs: refs of kind `group` become group tags; other
 * kinds and the user's own ref are skipped. Undefined means the lookup failed: no group
 * tags, `partial`, and a `user-info-unavailable` entry. A group whose value is invalid is
 * dropped with its reason; past `maxGroupTags` (0 to {@link MAX_GROUP_TAGS_LIMIT}) the rest
 * of the sorted list is dropped as `too-many`. `backstage-groups` is `partial` exactly when
 * a group was dropped or the lookup failed; a left-out user or actor tag is listed in
 * `dropped` too, and leaves `backstage-groups` alone. A service caller has only the first
 * two tags. The result depends on the set of groups, not their order.
 */
export function encodeSessionTags(
  caller: CallerRef,
  identity: string,
  groups: readonly string[] | undefined,
  options: { maxGroupTags: number },
): EncodedTags {
  const { maxGroupTags } = options;
  if (!Number.isInteger(maxGroupTags) || maxGroupTags < 0 || maxGroupTags > MAX_GROUP_TAGS_LIMIT) {
    throw new RangeError(`maxGroupTags must be a whole number from 0 to ${MAX_GROUP_TAGS_LIMIT}, not ${maxGroupTags}`);
  }
  if (valueProblem(identity) !== undefined || identity.length < 2) {
    throw new TypeError(`Not a session identity: ${JSON.stringify(identity)}`);
  }
  const tags: SessionTag[] = [
    { Key: CALLER, Value: identity },
    { Key: CALLER_TYPE, Value: caller.type },
  ];
  if (caller.type === 'service') return { tags, dropped: [] };

  const dropped: DroppedTag[] = [];
  const user = userValue(caller.ref);
  if ('value' in user) tags.push({ Key: USER, Value: user.value });
  else dropped.push({ ref: caller.ref, reason: user.reason });
  if (caller.actor !== undefined) {
    const problem = valueProblem(caller.actor);
    if (problem) dropped.push({ ref: caller.actor, reason: problem });
    else tags.push({ Key: ACTOR, Value: caller.actor });
  }

  let partial = false;
  /** Each value with the first (in code-unit order) of the refs that give it. */
  const values = new Map<string, string>();
  if (groups === undefined) {
    partial = true;
    dropped.push({ ref: caller.ref, reason: 'user-info-unavailable' });
  } else {
    for (const ref of groups) {
      if (ref === caller.ref) continue;
      const group = groupValue(ref);
      if (group === undefined) continue;
      if ('reason' in group) {
        partial = true;
        dropped.push({ ref, reason: group.reason });
      } else {
        const known = values.get(group.value);
        if (known === undefined || byText(ref, known) < 0) values.set(group.value, ref);
      }
    }
  }
  const sorted = [...values.keys()].sort(byText);
  for (const value of sorted.slice(maxGroupTags)) {
    partial = true;
    dropped.push({ ref: values.get(value)!, reason: 'too-many' });
  }
  tags.push({ Key: GROUPS, Value: partial ? 'partial' : 'complete' });
  sorted.slice(0, maxGroupTags).forEach((value, i) => {
    tags.push({ Key: `${GROUP_PREFIX}${i + 1}`, Value: value });
  });
  return { tags, dropped: sortDropped(dropped) };
}

/**
 * The same tags without any group tag and with `backstage-groups=partial`, for the one retry
 * after STS answers PackedPolicyTooLarge (EKS Pod Identity's own tags use most of the packed
 * budget). Each group left out is listed as `packed-size`, by its canonical ref
 * `group:<namespace>/<name>` (a group value decodes to exactly one). A service caller's tags
 * have no groups and come back unchanged.
 */
export function withoutGroupTags(encoded: EncodedTags): EncodedTags {
  if (!encoded.tags.some(tag => tag.Key === GROUPS)) {
    return { tags: [...encoded.tags], dropped: [...encoded.dropped] };
  }
  const removed = encoded.tags.filter(tag => GROUP_KEY.test(tag.Key));
  const tags = encoded.tags
    .filter(tag => !GROUP_KEY.test(tag.Key))
    .map(tag => (tag.Key === GROUPS ? { Key: GROUPS, Value: 'partial' } : tag));
  const dropped = removed.map(({ Value }): DroppedTag => {
    const at = Value.lastIndexOf('@');
    const ref = at < 0 ? `group:default/${Value}` : `group:${Value.slice(at + 1)}/${Value.slice(0, at)}`;
    return { ref, reason: 'packed-size' };
  });
  return { tags, dropped: sortDropped([...encoded.dropped, ...dropped]) };
}

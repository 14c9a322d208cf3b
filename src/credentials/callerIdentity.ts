/*
 * Who is calling, as AWS will see it: the role session name and SourceIdentity of the
 * caller's own role session (sessionPerCaller). AWS allows 2 to 64 characters of
 * `[\w+=,.@-]` there, not starting with `aws:`; Backstage references are any string. The
 * mapping keeps the common references readable in CloudTrail (`jane.doe`,
 * `jane.doe@finance`, `plugin+catalog`) and gives everything else a readable hint plus a
 * hash, so that two callers never share a session (see {@link sessionIdentity}).
 */
import crypto from 'node:crypto';
import { BackstageCredentials } from '@backstage/backend-plugin-api';

/**
 * A caller with Backstage credentials: a user (by entity ref; `actor` is the plugin acting
 * for the user, if any) or a service (by subject: `plugin:<id>`, an external token's
 * subject). The exact strings Backstage gave: nothing is normalised, so that two references
 * Backstage tells apart stay apart.
 */
export type CallerRef =
  | { type: 'user'; ref: string; actor?: string }
  | { type: 'service'; subject: string };

/** The principal shapes of `@backstage/backend-plugin-api` this module reads. */
type Principal =
  | { type: 'user'; userEntityRef: string; actor?: { subject?: string } }
  | { type: 'service'; subject: string }
  | { type: 'none' };

/**
 * The caller behind `credentials`: `principal.userEntityRef` (and `principal.actor?.subject`)
 * for a user, `principal.subject` for a service. Undefined for missing or `none` credentials
 * (an unauthenticated request has no session of its own) and for principals of any other type.
 */
export function callerOf(credentials: BackstageCredentials | undefined): CallerRef | undefined {
  const principal = credentials?.principal as Principal | undefined;
  switch (principal?.type) {
    case 'user':
      if (typeof principal.userEntityRef !== 'string') return undefined;
      return typeof principal.actor?.subject === 'string'
        ? { type: 'user', ref: principal.userEntityRef, actor: principal.actor.subject }
        : { type: 'user', ref: principal.userEntityRef };
    case 'service':
      return typeof principal.subject === 'string'
        ? { type: 'service', subject: principal.subject }
        : undefined;
    default:
      return undefined;
  }
}

/**
 * `type` + "\n" + the exact reference: the key of the caller's cached session and the input
 * of the identity's hash. The actor is left out: a user acting through a plugin is the same
 * caller (the session names the person; the actor is a tag). A newline never occurs in a
 * type, so a user and a service with the same reference get different keys.
 */
export function callerKey(caller: CallerRef): string {
  return caller.type === 'user' ? `user\n${caller.ref}` : `service\n${caller.subject}`;
}

/** A lower-case entity name or subject part: no leading, trailing or repeated punctuation. */
const NAME = /^[a-z0-9]+(?:[-_.][a-z0-9]+)*$/;
/** A Backstage namespace: a DNS label. */
const NAMESPACE = /^[a-z0-9]+(?:-+[a-z0-9]+)*$/;

/**
 * The readable form of a user entity ref, `<name>` for `user:default/<name>` and
 * `<name>@<namespace>` for `user:<namespace>/<name>`, when the kind is exactly `user`, the
 * name matches {@link NAME} and the namespace {@link NAMESPACE}; otherwise undefined. Neither
 * part can contain `@`, `/` or `:`, so the form decodes back to exactly one ref. Any length:
 * {@link sessionIdentity} and the `backstage-user` tag apply their own limits.
 */
export function readableUser(ref: string): string | undefined {
  const match = /^user:([^/]+)\/(.+)$/.exec(ref);
  if (!match || !NAMESPACE.test(match[1]) || !NAME.test(match[2])) return undefined;
  return match[1] === 'default' ? match[2] : `${match[2]}@${match[1]}`;
}

/** `<p1>+<p2>[+...]` for a subject `<p1>:<p2>[:...]` whose every part matches {@link NAME}. */
function readableService(subject: string): string | undefined {
  const parts = subject.split(':');
  return parts.length >= 2 && parts.every(part => NAME.test(part)) ? parts.join('+') : undefined;
}

const MIN_LENGTH = 2;
const MAX_LENGTH = 64;
/** Characters of the hash: 16 of base32 (`a-z2-7`) are 80 bits of SHA-256. */
const HASH_LENGTH = 16;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** Room for the hint in a hashed identity: 64 minus `=` and the hash. */
const HINT_LENGTH = MAX_LENGTH - 1 - HASH_LENGTH;

/** The first `length` base32 characters of `bytes` (RFC 4648 alphabet, lower case). */
function base32(bytes: Buffer, length: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xfff; // never more than 12 bits are pending
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    if (out.length === length) break;
  }
  return out;
}

/**
 * A hint for humans in a hashed identity: the reference lower-cased, without `user:` and
 * `default/`, `/` as `@` and `:` as `+`, anything outside `[a-z0-9+.@_-]` removed, no
 * leading punctuation, at most 47 characters. It may say less than the reference and two
 * references may share it: the hash that follows tells them apart. It never contains `=`
 * (the hashed class's marker) and never `,`: the identity is the `backstage-caller` session
 * tag too, whose values do not allow `,`.
 */
function hint(caller: CallerRef): string {
  const text =
    caller.type === 'user'
      ? caller.ref.replace(/^user:(default\/)?/i, '').replace('/', '@')
      : caller.subject.replace(/:/g, '+');
  return text
    .toLowerCase()
    .replace(/[^a-z0-9+.@_-]/g, '')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, HINT_LENGTH);
}

/**
 * The caller's role session name and SourceIdentity: 2 to 64 characters of
 * `[a-z0-9_+.@=-]` (inside AWS's `[\w+=,.@-]`), lower case, never starting with `aws:` (no
 * output contains `:`), and also a valid session tag value. Four classes:
 *
 * | caller                     | when                                             | identity        |
 * |----------------------------|--------------------------------------------------|-----------------|
 * | `user:default/<name>`      | name `^[a-z0-9]+([-_.][a-z0-9]+)*$`               | `<name>`        |
 * | `user:<ns>/<name>`         | ns a DNS label (not `default`), name as above    | `<name>@<ns>`   |
 * | service `<p1>:<p2>[:...]`  | two parts or more, each like a name              | `<p1>+<p2>...`  |
 * | anything else              | upper case, other characters, no `:`, another kind, outside 2-64 | `<hint>=<hash>` |
 *
 * e.g. `jane.doe`, `jane.doe@finance`, `plugin+catalog`, `external+github+octo-org`;
 * `user:default/Jane.Doe` gives `jane.doe=b4lbnm363ypsuh7t` and the static subject
 * `bench-caller` gives `bench-caller=dbllt5ahpen62t4r`. `<hash>` is the first 16 base32
 * characters (80 bits) of SHA-256 over {@link callerKey}.
 *
 * Why two different callers (different {@link callerKey}s) never get the same identity:
 * - The classes cannot meet: names, namespaces and parts never contain `@`, `+` or `=`, so
 *   the first class has none of them, the second exactly one `@` and no `+` or `=`, the third
 *   at least one `+` and no `@` or `=`, and the hashed class exactly one `=`.
 * - Each readable class decodes back to exactly one caller: the name is the ref
 *   `user:default/<name>`; `<name>@<ns>` splits at its only `@` into `user:<ns>/<name>`
 *   (never `default`, which takes the first class); `+` joins parts none of which contains
 *   `+` or `:`, so splitting at `+` and joining with `:` gives the subject back. A user and a
 *   service cannot share a class.
 * - Nothing is lower-cased or cut on the way to a readable identity: a reference with upper
 *   case, or too short or long, is hashed, so `Jane.Doe` and `jane.doe` stay two callers.
 * - In the hashed class, two callers meet only if 80 bits of SHA-256 of their keys agree
 *   (and their hints): for a million hashed callers the chance of any such pair is about
 *   4e-13. No mapping into 64 characters can be injective on every string; the session cache
 *   also refuses a second key for an identity it already holds, so one process never signs
 *   for two callers with one identity.
 */
export function sessionIdentity(caller: CallerRef): string {
  const readable =
    caller.type === 'user' ? readableUser(caller.ref) : readableService(caller.subject);
  if (readable !== undefined && readable.length >= MIN_LENGTH && readable.length <= MAX_LENGTH) {
    return readable;
  }
  const digest = crypto.createHash('sha256').update(callerKey(caller), 'utf8').digest();
  return `${hint(caller)}=${base32(digest, HASH_LENGTH)}`;
}

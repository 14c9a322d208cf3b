/*
 * AWS STS's rules for AssumeRole's RoleSessionName, SourceIdentity, Tags and
 * TransitiveTagKeys, as pure functions, in one place: the local STS (localSts.ts) answers
 * with them, and the plugin's own unit tests import them to check that every session name,
 * source identity and tag it sends would pass AWS. Not part of the plugin.
 *
 * Sources: the @aws-sdk/client-sts models (patterns, lengths, the 50-tag limit), the STS API
 * reference (Tag), the IAM user guide (session tags, source identity, role chaining), and
 * real AWS messages quoted in public issue threads. Anything not checked against AWS itself is
 * marked UNCONFIRMED; those are guesses in AWS's style, kept here so they are easy to fix.
 */

/** An error as STS answers it (query protocol: HTTP status, `<Code>`, `<Message>`). */
export interface StsError {
  status: number;
  code: string;
  message: string;
}

/** A session tag as sent on the wire (`Tags.member.N.Key` / `.Value`). */
export interface SessionTag {
  key: string;
  value: string;
}

/** What the rules look at in an AssumeRole request. */
export interface AssumeRoleSessionParams {
  /** Undefined when the request did not carry it (AWS answers "must not be null"). */
  roleSessionName?: string;
  sourceIdentity?: string;
  /** `value` undefined when the request carried a key without a value. */
  tags: { key: string; value?: string }[];
  transitiveTagKeys: string[];
  durationSeconds?: number;
  /** For the trust-policy messages. */
  roleArn?: string;
}

/** What the role's trust policy allows beyond sts:AssumeRole. */
export interface RoleTrust {
  setSourceIdentity?: boolean;
  tagSession?: boolean;
}

/** The calling session, when the request is signed with credentials STS issued (role chaining). */
export interface ParentSession {
  sourceIdentity?: string;
  /** The parent's transitive tags (they pass on to the child). */
  transitiveTags: SessionTag[];
}

export interface PackedSizeOptions {
  /** The modelled budget for packed session tags, in bytes (default 2048; UNCONFIRMED: a model, AWS publishes no number). */
  packedBudgetBytes?: number;
  /** Share of the budget the source session already uses (EKS Pod Identity's tags used 74%), in percent (default 0). */
  inheritedPackedPercent?: number;
}

export interface AssumeRoleContext extends PackedSizeOptions {
  /** The role's trust policy; undefined allows everything (an unlisted role). */
  trust?: RoleTrust;
  /** The caller's ARN, quoted by AccessDenied messages. */
  callerArn?: string;
  /** Set when the caller is itself a session this STS issued. */
  parent?: ParentSession;
}

export const SESSION_NAME_MIN_LENGTH = 2;
export const SESSION_NAME_MAX_LENGTH = 64;
/** RoleSessionName and SourceIdentity (the SDK's request docs; the IAM guide lists the same characters). */
export const SESSION_NAME_PATTERN = /^[\w+=,.@-]+$/;
export const MAX_SESSION_TAGS = 50;
export const TAG_KEY_MAX_LENGTH = 128;
export const TAG_VALUE_MAX_LENGTH = 256;
export const TAG_KEY_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u;
export const TAG_VALUE_PATTERN = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
/** Role chaining limits a session to one hour (real message below). */
export const CHAINED_MAX_DURATION_SECONDS = 3600;
export const DEFAULT_PACKED_BUDGET_BYTES = 2048;

/** The patterns as AWS's validation messages print them. */
const NAME_PATTERN_TEXT = '[\\w+=,.@-]*';
const KEY_PATTERN_TEXT = '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+';
const VALUE_PATTERN_TEXT = '[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*';

/*
 * Lengths are counted in UTF-16 code units (JavaScript's `.length`). AWS says "characters";
 * whether it counts a letter outside the BMP as one or two is UNCONFIRMED. Counting code
 * units is the stricter of the two, so a value that passes here passes AWS either way.
 */

const hasAwsPrefix = (text: string) => text.toLowerCase().startsWith('aws:');

/** RoleSessionName: 2 to 64 of `[\w+=,.@-]`. */
export function validRoleSessionName(name: string): boolean {
  return (
    name.length >= SESSION_NAME_MIN_LENGTH &&
    name.length <= SESSION_NAME_MAX_LENGTH &&
    SESSION_NAME_PATTERN.test(name)
  );
}

/** SourceIdentity: the same rule; `aws:…` contains `:`, which the pattern already refuses. */
export function validSourceIdentity(value: string): boolean {
  return validRoleSessionName(value);
}

/** A tag key: 1 to 128 Unicode letters, separators, numbers or `_.:/=+-@`, not starting with `aws:`. */
export function validSessionTagKey(key: string): boolean {
  return key.length >= 1 && key.length <= TAG_KEY_MAX_LENGTH && TAG_KEY_PATTERN.test(key) && !hasAwsPrefix(key);
}

/** A tag value: 0 to 256 of the same characters, not starting with `aws:`. */
export function validSessionTagValue(value: string): boolean {
  return value.length <= TAG_VALUE_MAX_LENGTH && TAG_VALUE_PATTERN.test(value) && !hasAwsPrefix(value);
}

export function validSessionTag(key: string, value: string): boolean {
  return validSessionTagKey(key) && validSessionTagValue(value);
}

/** Tag keys are case-insensitive (case is preserved): `Team` and `team` are the same key. */
export function sameTagKey(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/**
 * The modelled packed size, in percent of the budget: `ceil(100 × (inherited + Σ(utf8(key) +
 * utf8(value) + 2)) / budget)`. AWS compresses tags (and session policies) into a packed
 * binary form whose budget it does not publish (UNCONFIRMED: a model, not AWS's arithmetic).
 * TransitiveTagKeys do not add to it; the parent's transitive tags, which the child
 * inherits, do.
 */
export function packedPercent(
  tags: { key: string; value?: string }[],
  options: PackedSizeOptions & { inheritedTags?: SessionTag[] } = {},
): number {
  const budget = options.packedBudgetBytes ?? DEFAULT_PACKED_BUDGET_BYTES;
  let bytes = ((options.inheritedPackedPercent ?? 0) * budget) / 100;
  for (const tag of [...(options.inheritedTags ?? []), ...tags]) {
    bytes += Buffer.byteLength(tag.key) + Buffer.byteLength(tag.value ?? '') + 2;
  }
  return Math.ceil((100 * bytes) / budget);
}

/** The request's own-style validation failure: "N validation error(s) detected: …". */
interface Violation {
  value: string | undefined;
  at: string;
  constraint: string;
}

function lengthViolations(value: string, at: string, min: number, max: number): Violation[] {
  const found: Violation[] = [];
  if (value.length < min) found.push({ value, at, constraint: `Member must have length greater than or equal to ${min}` });
  if (value.length > max) found.push({ value, at, constraint: `Member must have length less than or equal to ${max}` });
  return found;
}

function patternViolation(value: string, at: string, pattern: RegExp, text: string): Violation[] {
  return pattern.test(value)
    ? []
    : [{ value, at, constraint: `Member must satisfy regular expression pattern: ${text}` }];
}

/*
 * Real AWS messages: `1 validation error detected: Value 'a:b' at 'roleSessionName' failed to
 * satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`
 * (JuliaCloud/AWSCore.jl#38) and `... Member must have length less than or equal to 64`
 * (zalando-incubator/kube-aws-iam-controller#16). The member paths for tags
 * (`tags.1.member.key`, `transitiveTagKeys.1.member`), the rendering of a whole list's value,
 * and whether AWS lists every violation or stops at the first are UNCONFIRMED.
 */
function validationMessage(violations: Violation[]): string {
  const n = violations.length;
  const parts = violations.map(
    v => `${v.value === undefined ? 'Value null' : `Value '${v.value}'`} at '${v.at}' failed to satisfy constraint: ${v.constraint}`,
  );
  return `${n} validation error${n === 1 ? '' : 's'} detected: ${parts.join('; ')}`;
}

function modelViolations(params: AssumeRoleSessionParams): Violation[] {
  const found: Violation[] = [];
  const name = params.roleSessionName;
  if (name === undefined) {
    found.push({ value: undefined, at: 'roleSessionName', constraint: 'Member must not be null' });
  } else {
    found.push(
      ...lengthViolations(name, 'roleSessionName', SESSION_NAME_MIN_LENGTH, SESSION_NAME_MAX_LENGTH),
      ...patternViolation(name, 'roleSessionName', SESSION_NAME_PATTERN, NAME_PATTERN_TEXT),
    );
  }
  if (params.sourceIdentity !== undefined) {
    const si = params.sourceIdentity;
    found.push(
      ...lengthViolations(si, 'sourceIdentity', SESSION_NAME_MIN_LENGTH, SESSION_NAME_MAX_LENGTH),
      ...patternViolation(si, 'sourceIdentity', SESSION_NAME_PATTERN, NAME_PATTERN_TEXT),
    );
  }
  if (params.tags.length > MAX_SESSION_TAGS) {
    found.push({
      value: `[${params.tags.map(t => `Tag(Key=${t.key}, Value=${t.value})`).join(', ')}]`,
      at: 'tags',
      constraint: `Member must have length less than or equal to ${MAX_SESSION_TAGS}`,
    });
  }
  params.tags.forEach((tag, i) => {
    const at = `tags.${i + 1}.member`;
    found.push(
      ...lengthViolations(tag.key, `${at}.key`, 1, TAG_KEY_MAX_LENGTH),
      ...patternViolation(tag.key, `${at}.key`, TAG_KEY_PATTERN, KEY_PATTERN_TEXT),
    );
    if (tag.value === undefined) {
      found.push({ value: undefined, at: `${at}.value`, constraint: 'Member must not be null' });
    } else {
      found.push(
        ...lengthViolations(tag.value, `${at}.value`, 0, TAG_VALUE_MAX_LENGTH),
        ...patternViolation(tag.value, `${at}.value`, TAG_VALUE_PATTERN, VALUE_PATTERN_TEXT),
      );
    }
  });
  if (params.transitiveTagKeys.length > MAX_SESSION_TAGS) {
    found.push({
      value: `[${params.transitiveTagKeys.join(', ')}]`,
      at: 'transitiveTagKeys',
      constraint: `Member must have length less than or equal to ${MAX_SESSION_TAGS}`,
    });
  }
  params.transitiveTagKeys.forEach((key, i) => {
    const at = `transitiveTagKeys.${i + 1}.member`;
    found.push(
      ...lengthViolations(key, at, 1, TAG_KEY_MAX_LENGTH),
      ...patternViolation(key, at, TAG_KEY_PATTERN, KEY_PATTERN_TEXT),
    );
  });
  return found;
}

const invalid = (message: string): StsError => ({ status: 400, code: 'InvalidParameterValue', message });

/**
 * Real AWS form (noqdev/iambic#357; 18F/identity-terraform#115): `User: <caller ARN> is not
 * authorized to perform: sts:SetSourceIdentity on resource: <role ARN>` (or sts:TagSession).
 */
export function notAuthorized(
  callerArn: string,
  action: 'sts:SetSourceIdentity' | 'sts:TagSession' | 'sts:AssumeRole',
  roleArn: string,
): StsError {
  return {
    status: 403,
    code: 'AccessDenied',
    message: `User: ${callerArn} is not authorized to perform: ${action} on resource: ${roleArn}`,
  };
}

/**
 * The first rule an AssumeRole request breaks, as STS would answer it, or undefined when it
 * passes. Checked in this order (AWS's order among the later steps is UNCONFIRMED):
 * 1. the model's constraints (ValidationError): session name, source identity, tags and
 *    transitive keys (lengths, patterns, at most 50);
 * 2. `aws:` prefixes, duplicate keys, transitive keys not among the tags
 *    (InvalidParameterValue);
 * 3. role chaining (`context.parent`): DurationSeconds over an hour, a SourceIdentity other
 *    than the parent's, a tag key equal to an inherited transitive key;
 * 4. the trust policy (`context.trust`): sts:SetSourceIdentity, then sts:TagSession
 *    (AccessDenied); an inherited source identity or transitive tags need them too;
 * 5. the packed size (PackedPolicyTooLarge).
 */
export function validateAssumeRole(
  params: AssumeRoleSessionParams,
  context: AssumeRoleContext = {},
): StsError | undefined {
  const violations = modelViolations(params);
  if (violations.length > 0) {
    return { status: 400, code: 'ValidationError', message: validationMessage(violations) };
  }
  // UNCONFIRMED: code and text. The pattern already refuses `aws:` in a source identity.
  for (const tag of params.tags) {
    if (hasAwsPrefix(tag.key) || hasAwsPrefix(tag.value ?? '')) {
      return invalid(`Tag keys and values can't start with 'aws:' (reserved for AWS use): '${tag.key}'`);
    }
  }
  // UNCONFIRMED for STS: IAM's tagging answers this text (aws/aws-cdk#26253), as InvalidInput.
  const keys = new Set<string>();
  for (const tag of params.tags) {
    const lower = tag.key.toLowerCase();
    if (keys.has(lower)) {
      return invalid('Duplicate tag keys found. Please note that Tag keys are case insensitive.');
    }
    keys.add(lower);
  }
  // The text LocalStack uses, and that a client classifying real AWS errors matches on; not
  // checked against AWS here (UNCONFIRMED).
  if (params.transitiveTagKeys.some(k => !keys.has(k.toLowerCase()))) {
    return invalid('The specified transitive tag key must be included in the requested tags.');
  }

  const parent = context.parent;
  if (parent) {
    // Real message (99designs/aws-vault#263, aws/eks-anywhere#9485).
    if ((params.durationSeconds ?? 0) > CHAINED_MAX_DURATION_SECONDS) {
      return {
        status: 400,
        code: 'ValidationError',
        message: 'The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.',
      };
    }
    // The IAM guide says such a request "will be denied"; code and text UNCONFIRMED.
    if (
      parent.sourceIdentity !== undefined &&
      params.sourceIdentity !== undefined &&
      params.sourceIdentity !== parent.sourceIdentity
    ) {
      return {
        status: 403,
        code: 'AccessDenied',
        message: `The source identity '${params.sourceIdentity}' differs from the calling session's '${parent.sourceIdentity}'; a source identity cannot be changed once set.`,
      };
    }
    // LocalStack's text, as above (UNCONFIRMED).
    if (parent.transitiveTags.some(t => keys.has(t.key.toLowerCase()))) {
      return invalid(
        "One of the specified transitive tag keys can't be set because it conflicts with a transitive tag key from the calling session.",
      );
    }
  }

  const trust = context.trust;
  if (trust) {
    const caller = context.callerArn ?? 'unknown';
    const role = params.roleArn ?? 'unknown';
    const sourceIdentity = params.sourceIdentity ?? parent?.sourceIdentity;
    if (sourceIdentity !== undefined && !trust.setSourceIdentity) {
      return notAuthorized(caller, 'sts:SetSourceIdentity', role);
    }
    const tagged =
      params.tags.length > 0 || params.transitiveTagKeys.length > 0 || (parent?.transitiveTags.length ?? 0) > 0;
    if (tagged && !trust.tagSession) {
      return notAuthorized(caller, 'sts:TagSession', role);
    }
  }

  const percent = packedPercent(params.tags, { ...context, inheritedTags: parent?.transitiveTags });
  if (percent > 100) {
    // Real code and message (aws/containers-roadmap#2413); the SDK names it PackedPolicyTooLargeException.
    return {
      status: 400,
      code: 'PackedPolicyTooLarge',
      message: `Packed size of session tags consumes ${percent}% of allotted space.`,
    };
  }
  return undefined;
}

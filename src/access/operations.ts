import { IncomingHttpHeaders } from 'node:http';
import { InputError } from '@backstage/errors';
import type { PermissionAction } from './admitCaller';

/*
 * Query- and JSON-protocol AWS APIs (SQS, SNS, IAM, STS, EC2, DynamoDB, KMS, ...) name the
 * operation in the request, not in the method: `GET /?Action=DeleteQueue`, or a POST with
 * `X-Amz-Target: AmazonSQS.DeleteQueue`. A route that sets `allowedOperations` says that its
 * API is one of these: every request must name exactly one operation where the proxy can see
 * it before anything is sent, the operation must be on the list, and the route's permission
 * is checked with the action of the operation's verb.
 */

/** An operation a request names, and where. */
export interface NamedOperation {
  name: string;
  from: 'X-Amz-Target' | 'Action';
}

/**
 * Every AWS operation name: a capital, then letters and digits (`ListQueues`,
 * `GetSAMLProvider`). A name in lower case (`deletequeue`) is refused rather than read.
 */
const OPERATION_NAME = /^[A-Z][A-Za-z0-9]{0,127}$/;

/** `<service prefix>.<operation>`, e.g. `DynamoDB_20120810.GetItem`. */
const TARGET = /^([A-Za-z0-9_.-]+)\.([A-Z][A-Za-z0-9]{0,127})$/;

/**
 * Content types of the JSON and CBOR protocols. A body in any other type (a form above all)
 * could carry an `Action` that the proxy cannot see before it sends the request.
 */
const OPERATION_BODY_TYPES: ReadonlySet<string> = new Set([
  'application/x-amz-json-1.0',
  'application/x-amz-json-1.1',
  'application/x-amz-cbor-1.1',
]);

/**
 * The operation a request names, checked so that the proxy and AWS cannot read it
 * differently. Throws a 400 (InputError) for:
 * - both an `X-Amz-Target` and an `Action` (which would AWS take?);
 * - `Action` repeated, or spelled in another case (`action`, `ACTION`);
 * - an `X-Amz-Target` that is not one `<prefix>.<Operation>` (two joined headers, inner spaces);
 * - an operation named by `Action` on a request with a body (a form body may hold another
 *   `Action`, and the body is read only after this check);
 * - a body on an `X-Amz-Target` request in a type other than the JSON or CBOR protocol's;
 * - no operation at all.
 * `query` holds the decoded query parameters, as they are sent upstream.
 */
export function namedOperation(
  headers: IncomingHttpHeaders,
  query: Record<string, string | string[]>,
  withBody: boolean,
): NamedOperation {
  const target = headers['x-amz-target'];
  const actionKeys = Object.keys(query).filter(k => k.toLowerCase() === 'action');
  if (target !== undefined && actionKeys.length) {
    throw new InputError(
      'The request names its operation twice, in X-Amz-Target and in the Action query parameter; send one',
    );
  }
  if (actionKeys.length) {
    if (actionKeys.length > 1 || actionKeys[0] !== 'Action') {
      throw new InputError(
        `The operation must be named by one query parameter spelled Action, not ${actionKeys.join(', ')}`,
      );
    }
    const value = query.Action;
    if (Array.isArray(value)) {
      throw new InputError('The Action query parameter is repeated; name one operation');
    }
    if (!OPERATION_NAME.test(value)) {
      throw new InputError(`Action '${value}' is not an operation name`);
    }
    if (withBody) {
      throw new InputError(
        'A request that names its operation with Action in the query must carry its parameters in the query, without a body',
      );
    }
    return { name: value, from: 'Action' };
  }
  if (target !== undefined) {
    const match = TARGET.exec(String(target).trim());
    if (!match) {
      throw new InputError(
        'X-Amz-Target must name one operation, as <service prefix>.<Operation>',
      );
    }
    if (withBody) {
      const type = String(headers['content-type'] ?? '');
      const essence = type.split(';')[0].trim().toLowerCase();
      if (type.includes(',') || !OPERATION_BODY_TYPES.has(essence)) {
        throw new InputError(
          `A request with X-Amz-Target must send its body as ${[...OPERATION_BODY_TYPES].join(' or ')}`,
        );
      }
    }
    return { name: match[2], from: 'X-Amz-Target' };
  }
  throw new InputError(
    'This route accepts only requests that name their operation, in X-Amz-Target or in the Action query parameter',
  );
}

/**
 * True when the name begins with one of the verbs, in any case, followed by its next word
 * (a capital or digit) or nothing: `DeleteQueue` and `DELETEQUEUE` begin with Delete,
 * `Getaway` does not begin with Get.
 */
function verbIs(name: string, verbs: readonly string[]): boolean {
  return verbs.some(
    v =>
      name.slice(0, v.length).toLowerCase() === v.toLowerCase() &&
      !/^[a-z]/.test(name.slice(v.length)),
  );
}

/** Verbs of operations that only read (`Get`, `List`, `Describe`, DynamoDB's `Query` and `Scan`, ...). */
const READ_VERBS = ['Get', 'List', 'Describe', 'Head', 'Query', 'Scan', 'Search', 'Select', 'Lookup'];
/** Verbs of operations that destroy a resource or data. */
const DELETE_VERBS = ['Delete', 'Remove', 'Purge', 'Terminate'];
/** Verbs of operations that only ever add something new. */
const CREATE_VERBS = ['Create', 'Send', 'Publish', 'Run'];

/**
 * The permission action of an operation, by the verb its name begins with (AWS names every
 * operation verb first). A `Batch` or `Transact` prefix is looked through: `BatchGetItem` is
 * a read, `BatchDeleteImage` a delete. Anything that is not recognisably a read, a delete or
 * a creation is an `update`, and so are `Put` operations, which replace what exists
 * (PutItem, PutRolePolicy, PutParameter with Overwrite). The verb is AWS's convention, not a
 * guarantee: a few `Get` operations issue credentials (sts:GetSessionToken,
 * ecr:GetAuthorizationToken) and DynamoDB's BatchWriteItem, TransactWriteItems and
 * ExecuteStatement can delete; list the operations a route needs when that matters.
 */
/**
 * Operations whose verb hides what they may do, checked by name (any case) before the verb:
 * writes that can also delete (DynamoDB's batch and transaction writes, PartiQL statements,
 * which may be a `DELETE FROM`), and deletions whose verb is not a delete verb.
 */
const OPERATION_EXCEPTIONS: ReadonlyMap<string, readonly PermissionAction[]> = new Map(
  Object.entries({
    BatchWriteItem: ['update', 'delete'],
    TransactWriteItems: ['update', 'delete'],
    ExecuteStatement: ['read', 'update', 'delete'],
    BatchExecuteStatement: ['read', 'update', 'delete'],
    ExecuteTransaction: ['read', 'update', 'delete'],
    ScheduleKeyDeletion: ['delete'],
    ScheduleSecretDeletion: ['delete'],
    DetachRolePolicy: ['update', 'delete'],
    DetachUserPolicy: ['update', 'delete'],
    DetachGroupPolicy: ['update', 'delete'],
  } as Record<string, PermissionAction[]>).map(([k, v]) => [k.toLowerCase(), v]),
);

/**
 * The permission actions of an operation: every one must be granted. Most operations have
 * one, {@link operationAction}; a few (see OPERATION_EXCEPTIONS) more, or another.
 */
export function operationActions(name: string): readonly PermissionAction[] {
  return OPERATION_EXCEPTIONS.get(name.toLowerCase()) ?? [operationAction(name)];
}

export function operationAction(name: string): PermissionAction {
  let verb = name;
  for (const prefix of ['Batch', 'Transact']) {
    if (verbIs(verb, [prefix]) && verb.length > prefix.length) {
      verb = verb.slice(prefix.length);
    }
  }
  if (verbIs(verb, READ_VERBS)) return 'read';
  if (verbIs(verb, DELETE_VERBS)) return 'delete';
  if (verbIs(verb, CREATE_VERBS)) return 'create';
  return 'update';
}

/** An `allowedOperations` entry: an operation name, a name prefix ending in `*`, or `*`. */
export const OPERATION_PATTERN = /^(?:[A-Z][A-Za-z0-9]{0,127}\*?|\*)$/;

/** True when `name` is one of `patterns` (exact, case-sensitive; `Get*` is a prefix). */
export function isAllowedOperation(name: string, patterns: readonly string[]): boolean {
  return patterns.some(p =>
    p.endsWith('*') ? name.startsWith(p.slice(0, -1)) : name === p,
  );
}

/**
 * Signing names of AWS APIs that use the query or JSON protocol, where the method says
 * nothing about what a request does. A route to one of these with a `permission` and no
 * `allowedOperations` is warned about at start.
 */
export const OPERATION_PROTOCOL_SERVICES: ReadonlySet<string> = new Set([
  'sqs',
  'sns',
  'iam',
  'sts',
  'ec2',
  'dynamodb',
  'kinesis',
  'logs',
  'kms',
  'secretsmanager',
  'ssm',
  'ecs',
  'states',
  'events',
  'monitoring',
  'cloudformation',
  'rds',
  'elasticloadbalancing',
  'autoscaling',
  'elasticache',
  'redshift',
  'cognito-idp',
  'cloudtrail',
  'codebuild',
  'ecr',
]);

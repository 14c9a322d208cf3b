import { IncomingHttpHeaders } from 'node:http';
import type { PermissionAction } from './admitCaller';

/*
 * What an S3 request does, as a permission action. S3 chooses its operation by method AND
 * query: `POST /bucket?delete` deletes objects (DeleteObjects), `PUT /key?acl` changes who may
 * read one, `POST /key?select` reads one. The method alone would check DeleteObjects as a
 * create, so a caller denied `delete` could delete.
 */

/** One row of {@link S3_ACTION_TABLE}. */
export interface S3ActionRule {
  /**
   * The query parameter (S3 calls it a subresource) that selects the operation. Matched as
   * S3 matches it: case-sensitively, as a key with or without a value (`?delete`,
   * `?delete=`, `?delete=x` are one).
   */
  subresource: string;
  /** The methods for which S3 reads the subresource. */
  methods: readonly string[];
  /** Every action the caller needs: a rename removes the source key, so it is two. */
  actions: readonly PermissionAction[];
  /** The S3 operations the row covers, for the documentation. */
  operations: string;
}

const WRITE_METHODS = ['PUT', 'POST', 'DELETE', 'PATCH'];

/**
 * Bucket and object configuration: changing or removing any of it is an `update`. Removing a
 * configuration (DeleteBucketPolicy, DeletePublicAccessBlock, DeleteObjectTagging, ...)
 * changes who may do what or how data is kept, as replacing it does: a caller allowed only to
 * `delete` objects must not strip a bucket policy's Deny. Such a DELETE also needs `delete`,
 * as every DELETE does (see {@link s3Actions}).
 */
const CONFIGURATION_SUBRESOURCES = [
  'acl',
  'policy',
  'tagging',
  'lifecycle',
  'retention',
  'legal-hold',
  'cors',
  'website',
  'versioning',
  'encryption',
  'replication',
  'notification',
  'ownershipControls',
  'publicAccessBlock',
  'object-lock',
  'logging',
  'accelerate',
  'requestPayment',
  'intelligent-tiering',
  'inventory',
  'analytics',
  'metrics',
  'metadataTable',
  'metadataConfiguration',
  'metadataJournalTable',
  'metadataInventoryTable',
  'abac',
];

/**
 * The S3 requests whose method does not say what they do. GET, HEAD and OPTIONS are always
 * `read` (every S3 GET and HEAD reads); a PUT, POST or PATCH that no row matches keeps the
 * default of {@link s3DefaultActions}. When several rows match (a crafted
 * `POST ?select&delete`), the caller needs every action they name: whichever operation S3
 * picks, it was checked.
 */
export const S3_ACTION_TABLE: readonly S3ActionRule[] = [
  { subresource: 'delete', methods: ['POST'], actions: ['delete'], operations: 'DeleteObjects' },
  { subresource: 'uploadId', methods: ['DELETE'], actions: ['delete'], operations: 'AbortMultipartUpload (discards the uploaded parts)' },
  { subresource: 'uploads', methods: ['POST'], actions: ['update'], operations: 'CreateMultipartUpload' },
  { subresource: 'uploadId', methods: ['PUT', 'POST'], actions: ['update'], operations: 'UploadPart, UploadPartCopy, CompleteMultipartUpload' },
  { subresource: 'select', methods: ['POST'], actions: ['read'], operations: 'SelectObjectContent' },
  { subresource: 'restore', methods: ['POST'], actions: ['update'], operations: 'RestoreObject' },
  { subresource: 'renameObject', methods: ['PUT'], actions: ['update', 'delete'], operations: 'RenameObject (the source key goes away)' },
  ...CONFIGURATION_SUBRESOURCES.map(subresource => ({
    subresource,
    methods: WRITE_METHODS,
    actions: ['update'] as const,
    operations: 'Put*/Delete*/Create* of this bucket or object configuration',
  })),
];

const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The action of an S3 request that no table row matches: PUT (PutObject, CopyObject,
 * CreateBucket), POST (PostObject) and PATCH are `update`, because each may replace an
 * object that exists: S3 cannot tell a new key from an overwrite, and a caller allowed only
 * to `create` must never overwrite. DELETE (DeleteObject, DeleteBucket) is `delete`.
 */
export function s3DefaultActions(method: string): PermissionAction[] {
  if (READ_METHODS.has(method)) return ['read'];
  return method === 'DELETE' ? ['delete'] : ['update'];
}

/**
 * The permission actions an S3 request needs, from its method, its decoded query keys (the
 * keys S3 receives, after the proxy's canonical re-encoding) and its headers. Beyond the
 * table, where the proxy cannot know which operation S3 will pick, the caller needs the
 * actions of each:
 * - a subresource in another case (`?Delete`) needs its row's actions and the default's;
 * - every DELETE needs `delete`: a subresource that S3 does not serve for DELETE on that
 *   resource (`DELETE /key?acl`; the proxy cannot tell a bucket from a key on every route)
 *   must not turn a DeleteObject into an `update`;
 * - a POST with a `multipart/form-data` body may be a PostObject upload: `update` is added;
 * - a copy (`x-amz-copy-source`: CopyObject, UploadPartCopy) reads its source: `read` is added.
 */
export function s3Actions(
  method: string,
  queryKeys: Iterable<string>,
  headers: IncomingHttpHeaders,
): PermissionAction[] {
  if (READ_METHODS.has(method)) {
    return ['read'];
  }
  const keys = new Set(queryKeys);
  const lowerKeys = new Set([...keys].map(k => k.toLowerCase()));
  const actions = new Set<PermissionAction>();
  let caseVariant = false;
  for (const rule of S3_ACTION_TABLE) {
    if (!rule.methods.includes(method)) continue;
    if (keys.has(rule.subresource)) {
      rule.actions.forEach(a => actions.add(a));
    } else if (lowerKeys.has(rule.subresource.toLowerCase())) {
      // `?Delete`: S3 matches subresources case-sensitively and should read this as no
      // subresource, but the caller needs the actions of both readings.
      rule.actions.forEach(a => actions.add(a));
      caseVariant = true;
    }
  }
  if (caseVariant) {
    s3DefaultActions(method).forEach(a => actions.add(a));
  }
  if (method === 'DELETE') {
    actions.add('delete');
  }
  if (method === 'POST' && /multipart\/form-data/i.test(String(headers['content-type'] ?? ''))) {
    actions.add('update');
  }
  if (actions.size === 0) {
    s3DefaultActions(method).forEach(a => actions.add(a));
  }
  if (method === 'PUT' && headers['x-amz-copy-source'] !== undefined) {
    actions.add('read');
  }
  return [...actions];
}

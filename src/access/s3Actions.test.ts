/*
 * The permission action of S3 requests (issue 13, finding 4): a caller denied `delete` must
 * not delete through `POST ?delete` (DeleteObjects), whatever the spelling of the query. The
 * table is checked row by row, through a real Backstage backend with the real permission
 * backend, and DeleteObjects end to end against an S3 emulator.
 */
import http from 'node:http';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { RunningProxy, startProxy } from '../__testUtils__/startProxy';
import {
  echoHandler,
  S3RVER_CREDENTIALS,
  startVerifyingS3,
  startVerifyingUpstream,
  VerifyingS3,
  VerifyingUpstream,
} from '../../localAws';
import { recordingPolicy, userToken } from '../__testUtils__/recordingPolicy';
import { s3Actions, S3_ACTION_TABLE } from './s3Actions';

const P = '/api/proxy-sigv4';
const ALICE = 'user:default/alice'; // granted every action
const BOB = 'user:default/bob'; // granted everything but delete
const PERMISSION = 'proxy-sigv4.bucket';

function rawRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body ?? '')) },
      },
      res => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', c => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('DeleteObjects against an S3 emulator', () => {
  let s3: VerifyingS3;
  let proxy: RunningProxy;
  let port: number;
  const policy = recordingPolicy((user, _name, action) => user === ALICE || (user === BOB && action !== 'delete'));

  beforeAll(async () => {
    s3 = await startVerifyingS3(['test-bucket'], {
      seed: { 'test-bucket/keep.txt': 'keep', 'test-bucket/gone.txt': 'gone' },
    });
    proxy = await startProxy(
      { '/bucket': { target: `${s3.url}/test-bucket`, service: 's3', region: 'us-east-1', permission: PERMISSION } },
      { aws: { mainAccount: S3RVER_CREDENTIALS }, permission: { enabled: true } },
      { features: policy.features },
    );
    port = Number(new URL(proxy.baseUrl).port);
  });
  afterAll(async () => {
    await proxy.stop();
    await s3.close();
  });
  beforeEach(() => {
    policy.decisions.length = 0;
  });

  const deleteBody = (key: string) =>
    `<?xml version="1.0" encoding="UTF-8"?><Delete><Object><Key>${key}</Key></Object></Delete>`;
  const read = (who: string, key: string) =>
    rawRequest(port, 'GET', `${P}/bucket/${key}`, { authorization: userToken(who) });

  it.each([
    ['?delete', '?delete'],
    ['?delete=', '?delete='],
    ['as the AWS SDK sends it', '?delete&x-id=DeleteObjects'],
    ['percent-encoded', '?%64elete'],
    ['percent-encoded in upper-case hex', '?%64%65lete'],
    ['among other keys', '?a=1&delete&z=2'],
    ['with a value', '?delete=true'],
    ['in another case, which needs both readings', '?Delete'],
  ])('is refused to a caller denied delete: %s', async (_label, query) => {
    const accepted = s3.accepted;
    const res = await rawRequest(
      port,
      'POST',
      `${P}/bucket${query}`,
      { authorization: userToken(BOB), 'content-type': 'application/xml' },
      deleteBody('keep.txt'),
    );
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error.message).toBe(
      `The permission ${PERMISSION} (action delete) is not granted to the caller`,
    );
    expect(s3.accepted).toBe(accepted); // nothing reached S3
    expect((await read(BOB, 'keep.txt')).status).toBe(200);
  });

  it('deletes for a caller granted delete, through a signature S3 accepts', async () => {
    const res = await rawRequest(
      port,
      'POST',
      `${P}/bucket?delete`,
      { authorization: userToken(ALICE), 'content-type': 'application/xml' },
      deleteBody('gone.txt'),
    );
    expect(res.status).toBe(200);
    expect(res.body).toContain('<Deleted><Key>gone.txt</Key>');
    expect(s3.rejected).toEqual([]);
    expect(policy.decisions.map(d => [d.user, d.action, d.result])).toEqual([
      [ALICE, 'delete', AuthorizeResult.ALLOW],
    ]);
    expect((await read(ALICE, 'gone.txt')).status).toBe(404);
  });

  it('still lets the caller denied delete read and write', async () => {
    expect((await read(BOB, 'keep.txt')).status).toBe(200);
    const put = await rawRequest(port, 'PUT', `${P}/bucket/new.txt`, { authorization: userToken(BOB) }, 'x');
    expect(put.status).toBe(200);
    const del = await rawRequest(port, 'DELETE', `${P}/bucket/new.txt`, { authorization: userToken(BOB) });
    expect(del.status).toBe(403);
    expect(policy.decisions.map(d => d.action)).toEqual(['read', 'update', 'delete']);
  });
});

describe('every row of the table, through the backend', () => {
  let upstream: VerifyingUpstream;
  let proxy: RunningProxy;
  let port: number;
  const policy = recordingPolicy(user => user === ALICE);

  beforeAll(async () => {
    upstream = await startVerifyingUpstream({ [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS });
    upstream.handler = echoHandler;
    proxy = await startProxy(
      {
        '/bucket': {
          target: `${upstream.url}/bucket`,
          service: 's3',
          region: 'us-east-1',
          permission: PERMISSION,
          allowedHeaders: ['x-amz-copy-source'],
        },
      },
      { aws: { mainAccount: S3RVER_CREDENTIALS }, permission: { enabled: true } },
      { features: policy.features },
    );
    port = Number(new URL(proxy.baseUrl).port);
  });
  afterAll(async () => {
    await proxy.stop();
    await upstream.close();
  });
  beforeEach(() => {
    policy.decisions.length = 0;
    upstream.received.length = 0;
  });

  /** The actions the permission backend was asked about for one request, sorted. */
  async function actionsAsked(method: string, pathAndQuery: string, headers: Record<string, string> = {}) {
    const res = await rawRequest(port, method, `${P}/bucket${pathAndQuery}`, {
      authorization: userToken(ALICE),
      ...headers,
    }, method === 'GET' || method === 'HEAD' || method === 'DELETE' ? undefined : '<x/>');
    expect(res.status).toBe(200);
    expect(upstream.received).toHaveLength(1);
    expect(upstream.received[0].signatureError).toBeUndefined();
    return policy.decisions.map(d => d.action).sort();
  }

  const rows = S3_ACTION_TABLE.flatMap(rule =>
    rule.methods
      .filter(m => m !== 'PATCH')
      .map(method => {
        const expected = new Set(rule.actions);
        if (method === 'DELETE') expected.add('delete');
        return [`${method} ?${rule.subresource}`, [...expected].sort(), method, rule.subresource] as const;
      }),
  );

  it.each(rows)('%s asks for %j', async (_label, expected, method, subresource) => {
    expect(await actionsAsked(method, `/key.txt?${subresource}`)).toEqual(expected);
  });

  it.each([
    ['GET (GetObject)', 'GET', '/key.txt', {}, ['read']],
    ['HEAD (HeadObject)', 'HEAD', '/key.txt', {}, ['read']],
    ['GET ?response-content-type (an override is still a read)', 'GET', '/key.txt?response-content-type=text/plain', {}, ['read']],
    ['GET ?acl (GetObjectAcl)', 'GET', '/key.txt?acl', {}, ['read']],
    ['GET ?delete (a GET never deletes)', 'GET', '/?delete', {}, ['read']],
    ['PUT (PutObject, which may overwrite)', 'PUT', '/key.txt', {}, ['update']],
    ['PUT on the bucket (CreateBucket, or PutObject of a top-level key)', 'PUT', '', {}, ['update']],
    ['PUT with x-amz-copy-source (CopyObject reads its source)', 'PUT', '/copy.txt', { 'x-amz-copy-source': '/bucket/key.txt' }, ['read', 'update']],
    ['UploadPartCopy', 'PUT', '/copy.txt?partNumber=1&uploadId=u', { 'x-amz-copy-source': '/bucket/key.txt' }, ['read', 'update']],
    ['POST on the bucket (PostObject)', 'POST', '', {}, ['update']],
    ['POST ?select with a form body (could be PostObject)', 'POST', '/?select', { 'content-type': 'multipart/form-data; boundary=x' }, ['read', 'update']],
    ['DELETE (DeleteObject)', 'DELETE', '/key.txt', {}, ['delete']],
    ['DELETE of a version (DeleteObject)', 'DELETE', '/key.txt?versionId=3', {}, ['delete']],
    ['DELETE on the bucket (DeleteBucket)', 'DELETE', '', {}, ['delete']],
    ['DELETE with a subresource S3 has no DELETE for', 'DELETE', '/key.txt?acl', {}, ['delete', 'update']],
    ['POST ?select&delete (which would S3 take?)', 'POST', '/key.txt?select&delete', {}, ['delete', 'read']],
    ['POST ?Delete (case variant: both readings)', 'POST', '/?Delete', {}, ['delete', 'update']],
    ['PUT ?Tagging (case variant)', 'PUT', '/key.txt?Tagging', {}, ['update']],
    ['POST ?x=delete (a value is not a subresource)', 'POST', '/?x=delete', {}, ['update']],
    ['PUT ?tagging&versionId (PutObjectTagging of a version)', 'PUT', '/key.txt?tagging&versionId=3', {}, ['update']],
  ])('%s asks for the actions of its last column', async (_label, method, path, headers, expected) => {
    expect(await actionsAsked(method, path, headers as Record<string, string>)).toEqual(expected);
  });

  it('answers 403 naming the denied action, and sends nothing', async () => {
    const res = await rawRequest(port, 'PUT', `${P}/bucket/k?acl`, { authorization: userToken(BOB) }, '<x/>');
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error.message).toBe(
      `The permission ${PERMISSION} (action update) is not granted to the caller`,
    );
    expect(upstream.received).toHaveLength(0);
  });
});

describe('s3Actions', () => {
  it('reads every GET, HEAD and OPTIONS as a read, whatever the query', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      expect(s3Actions(method, ['delete', 'uploadId', 'acl', 'restore'], { 'x-amz-copy-source': '/b/k' })).toEqual(['read']);
    }
  });

  it('ignores a subresource for a method S3 does not read it with', () => {
    expect(s3Actions('PUT', ['select'], {})).toEqual(['update']);
    expect(s3Actions('PUT', ['delete'], {})).toEqual(['update']);
    expect(s3Actions('DELETE', ['select'], {})).toEqual(['delete']);
  });
});

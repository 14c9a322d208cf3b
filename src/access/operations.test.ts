/*
 * Query- and JSON-protocol APIs name the operation in the request, not the method (issue 13,
 * finding 4): `GET /?Action=DeleteQueue`. A route with `allowedOperations` checks the named
 * operation against its list and the permission with the operation's verb; every way of
 * naming an operation that the proxy and AWS could read differently is refused before
 * anything is sent. Through a real Backstage backend with the real permission backend.
 */
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { RunningProxy, SERVICE, startProxy, TEST_CREDENTIALS } from '../__testUtils__/startProxy';
import { rawHttp } from '../__testUtils__/rawHttp';
import { echoHandler, startVerifyingUpstream, VerifyingUpstream } from '../../localAws';
import { recordingPolicy, userToken } from '../__testUtils__/recordingPolicy';
import { isAllowedOperation, operationAction, operationActions } from './operations';

const P = '/api/proxy-sigv4';
const ALICE = 'user:default/alice'; // granted every action
const BOB = 'user:default/bob'; // granted everything but delete
const sqs = { service: 'sqs', region: 'eu-west-1', permission: 'proxy-sigv4.queues' };
const JSON_10 = 'application/x-amz-json-1.0';

let upstream: VerifyingUpstream;
let proxy: RunningProxy;
let port: number;
const policy = recordingPolicy((user, _name, action) => user === ALICE || (user === BOB && action !== 'delete'));

beforeAll(async () => {
  upstream = await startVerifyingUpstream({ [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS });
  upstream.handler = echoHandler;
  proxy = await startProxy(
    {
      '/queues': {
        target: `${upstream.url}/`,
        ...sqs,
        allowedOperations: ['ListQueues', 'Get*', 'SendMessage', 'DeleteMessage', 'DeleteQueue'],
      },
      '/ddb': { target: `${upstream.url}/`, service: 'dynamodb', region: 'eu-west-1', permission: 'proxy-sigv4.ddb', allowedOperations: ['*'] },
      '/queues-by-method': { target: `${upstream.url}/`, ...sqs },
      '/queues-listed': { target: `${upstream.url}/`, service: 'sqs', region: 'eu-west-1', allowedOperations: ['ListQueues'] },
    },
    { permission: { enabled: true } },
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

const send = (who: string, line: string, headers: Record<string, string> = {}, body = '') =>
  rawHttp(port, line, { authorization: who.startsWith('Bearer') ? who : userToken(who), ...headers }, body);
const message = (res: { body: string }) => JSON.parse(res.body).error.message as string;

describe('the operation decides the permission action', () => {
  it('refuses GET /?Action=DeleteQueue to a caller denied delete, and sends nothing', async () => {
    const res = await send(BOB, `GET ${P}/queues/?Action=DeleteQueue&QueueUrl=q HTTP/1.1`);
    expect(res.status).toBe(403);
    expect(message(res)).toBe('The permission proxy-sigv4.queues (action delete) is not granted to the caller');
    expect(upstream.received).toHaveLength(0);
  });

  it('lets the same caller list queues, checked as a read, signed as sent', async () => {
    const res = await send(BOB, `GET ${P}/queues/?Action=ListQueues HTTP/1.1`);
    expect(res.status).toBe(200);
    expect(upstream.received).toHaveLength(1);
    expect(upstream.received[0].signatureError).toBeUndefined();
    expect(upstream.received[0].url).toBe('/?Action=ListQueues');
    expect(policy.decisions.map(d => [d.action, d.result])).toEqual([['read', AuthorizeResult.ALLOW]]);
  });

  it.each([
    ['AmazonSQS.DeleteQueue', BOB, 403, 'delete'],
    ['AmazonSQS.DeleteQueue', ALICE, 200, 'delete'],
    ['AmazonSQS.GetQueueUrl', BOB, 200, 'read'],
    ['AmazonSQS.SendMessage', BOB, 200, 'create'],
    ['  AmazonSQS.DeleteMessage  ', BOB, 403, 'delete'],
  ])('reads X-Amz-Target %j for %s: %d, as %s', async (target, who, status, action) => {
    const res = await send(who, `POST ${P}/queues/ HTTP/1.1`, { 'x-amz-target': target, 'content-type': JSON_10 }, '{"QueueUrl":"q"}');
    expect(res.status).toBe(status);
    expect(upstream.received).toHaveLength(status === 200 ? 1 : 0);
    expect(policy.decisions.map(d => d.action)).toEqual([action]);
  });

  it.each([
    ['DynamoDB_20120810.GetItem', 'read'],
    ['DynamoDB_20120810.Query', 'read'],
    ['DynamoDB_20120810.BatchGetItem', 'read'],
    ['DynamoDB_20120810.TransactGetItems', 'read'],
    ['DynamoDB_20120810.PutItem', 'update'],
    ['DynamoDB_20120810.BatchWriteItem', 'update,delete'],
    ['DynamoDB_20120810.CreateTable', 'create'],
    ['DynamoDB_20120810.DeleteTable', 'delete'],
    ['DynamoDB_20120810.DELETETABLE', 'delete'],
  ])('checks %s on a route that allows every operation as %s', async (target, action) => {
    const res = await send(ALICE, `POST ${P}/ddb/ HTTP/1.1`, { 'x-amz-target': target, 'content-type': 'application/x-amz-json-1.0; charset=utf-8' }, '{}');
    expect(res.status).toBe(200);
    expect(policy.decisions.map(d => d.action)).toEqual(action.split(','));
  });

  it('checks the operation on a route without a permission too, for every caller', async () => {
    expect((await send(SERVICE, `GET ${P}/queues-listed/?Action=ListQueues HTTP/1.1`)).status).toBe(200);
    const res = await send(SERVICE, `GET ${P}/queues-listed/?Action=DeleteQueue HTTP/1.1`);
    expect(res.status).toBe(403);
    expect(message(res)).toBe('Operation DeleteQueue (from Action) is not in the allowedOperations of route /queues-listed');
    expect(upstream.received).toHaveLength(1);
  });

  it('refuses an operation that is not on the list, even to a caller granted everything', async () => {
    for (const operation of ['PurgeQueue', 'ListQueuesX', 'DELETEQUEUE', 'SetQueueAttributes']) {
      const res = await send(ALICE, `GET ${P}/queues/?Action=${operation} HTTP/1.1`);
      expect([operation, res.status]).toEqual([operation, 403]);
      expect(message(res)).toContain('is not in the allowedOperations of route /queues');
    }
    expect(upstream.received).toHaveLength(0);
  });

  it('without allowedOperations, checks by method as documented: the start-up log says so', async () => {
    const res = await send(BOB, `GET ${P}/queues-by-method/?Action=DeleteQueue HTTP/1.1`);
    expect(res.status).toBe(200);
    expect(policy.decisions.map(d => d.action)).toEqual(['read']);
  });
});

describe('ways to name an operation that the proxy and AWS could read differently are refused', () => {
  it.each<[string, string, Record<string, string>, string, string]>([
    ['Action in lower case', 'GET /?action=DeleteQueue', {}, '', 'spelled Action, not action'],
    ['Action in upper case', 'GET /?ACTION=DeleteQueue', {}, '', 'spelled Action, not ACTION'],
    ['Action twice', 'GET /?Action=ListQueues&Action=DeleteQueue', {}, '', 'The Action query parameter is repeated'],
    ['Action and action', 'GET /?Action=ListQueues&action=DeleteQueue', {}, '', 'spelled Action, not Action, action'],
    ['Action with + for a space', 'GET /?Action=Delete+Queue', {}, '', "Action 'Delete Queue' is not an operation name"],
    ['an operation in lower case', 'GET /?Action=deletequeue', {}, '', "Action 'deletequeue' is not an operation name"],
    ['an empty Action', 'GET /?Action=', {}, '', "Action '' is not an operation name"],
    ['Action in the query and a form body', 'POST /?Action=ListQueues', { 'content-type': 'application/x-www-form-urlencoded' }, 'Action=DeleteQueue', 'must carry its parameters in the query, without a body'],
    ['Action only in a form body', 'POST /', { 'content-type': 'application/x-www-form-urlencoded' }, 'Action=DeleteQueue', 'accepts only requests that name their operation'],
    ['no operation at all', 'GET /', {}, '', 'accepts only requests that name their operation'],
    ['X-Amz-Target and Action', 'POST /?Action=DeleteQueue', { 'x-amz-target': 'AmazonSQS.ListQueues' }, '', 'names its operation twice'],
    ['two X-Amz-Target headers', 'POST /', { 'X-Amz-Target': 'AmazonSQS.ListQueues', 'x-amz-target': 'AmazonSQS.DeleteQueue', 'content-type': JSON_10 }, '{}', 'X-Amz-Target must name one operation'],
    ['X-Amz-Target with an inner space', 'POST /', { 'x-amz-target': 'AmazonSQS. DeleteQueue', 'content-type': JSON_10 }, '{}', 'X-Amz-Target must name one operation'],
    ['X-Amz-Target without a prefix', 'POST /', { 'x-amz-target': 'DeleteQueue', 'content-type': JSON_10 }, '{}', 'X-Amz-Target must name one operation'],
    ['X-Amz-Target with a form body', 'POST /', { 'x-amz-target': 'AmazonSQS.ListQueues', 'content-type': 'application/x-www-form-urlencoded' }, 'Action=DeleteQueue', 'must send its body as'],
    ['X-Amz-Target with a body and no type', 'POST /', { 'x-amz-target': 'AmazonSQS.ListQueues' }, 'Action=DeleteQueue', 'must send its body as'],
    ['X-Amz-Target with a list of types', 'POST /', { 'x-amz-target': 'AmazonSQS.ListQueues', 'content-type': `${JSON_10}, application/x-www-form-urlencoded` }, 'Action=DeleteQueue', 'must send its body as'],
  ])('%s: 400, nothing asked or sent', async (_label, request, headers, body, text) => {
    const [method, path] = request.split(' ');
    const res = await send(ALICE, `${method} ${P}/queues${path} HTTP/1.1`, headers, body);
    expect(res.status).toBe(400);
    expect(message(res)).toContain(text);
    expect(policy.decisions).toEqual([]);
    expect(upstream.received).toHaveLength(0);
  });

  it('decodes a percent-encoded Action as the upstream will read it, and checks it as such', async () => {
    const res = await send(ALICE, `GET ${P}/queues/?Act%69on=DeleteQueue HTTP/1.1`);
    expect(res.status).toBe(200);
    expect(policy.decisions.map(d => d.action)).toEqual(['delete']);
    expect(upstream.received.map(r => r.url)).toEqual(['/?Action=DeleteQueue']);
  });
});

describe('operationAction', () => {
  it.each([
    ['ListQueues', 'read'],
    ['GetQueueUrl', 'read'],
    ['DescribeInstances', 'read'],
    ['BatchGetItem', 'read'],
    ['Query', 'read'],
    ['Scan', 'read'],
    ['SearchResources', 'read'],
    ['LookupEvents', 'read'],
    ['HeadBucket', 'read'],
    ['DeleteQueue', 'delete'],
    ['BatchDeleteImage', 'delete'],
    ['RemovePermission', 'delete'],
    ['PurgeQueue', 'delete'],
    ['TerminateInstances', 'delete'],
    ['CreateQueue', 'create'],
    ['SendMessage', 'create'],
    ['Publish', 'create'],
    ['RunInstances', 'create'],
    ['PutItem', 'update'],
    ['ReceiveMessage', 'update'],
    ['ChangeMessageVisibility', 'update'],
    ['Decrypt', 'update'],
    ['StopInstances', 'update'],
    ['ExecuteStatement', 'update'],
    ['Getaway', 'update'],
    ['Listen', 'update'],
    ['Batch', 'update'],
    ['DELETEQUEUE', 'delete'],
    ['GETQUEUEURL', 'read'],
  ])('%s is %s', (name, action) => {
    expect(operationAction(name)).toBe(action);
  });

  it('matches allowedOperations exactly, or by a prefix ending in *', () => {
    const list = ['ListQueues', 'Get*'];
    expect(['ListQueues', 'GetQueueUrl', 'Get', 'ListQueuesX', 'listQueues', 'DeleteQueue'].map(n => isAllowedOperation(n, list)))
      .toEqual([true, true, true, false, false, false]);
    expect(isAllowedOperation('Anything', ['*'])).toBe(true);
  });
});

describe('operations whose verb hides a deletion', () => {
  it.each([
    ['BatchWriteItem', ['update', 'delete']], // DynamoDB: DeleteRequest entries
    ['TransactWriteItems', ['update', 'delete']], // DynamoDB: Delete entries
    ['ExecuteStatement', ['read', 'update', 'delete']], // DynamoDB PartiQL: DELETE FROM
    ['ScheduleKeyDeletion', ['delete']], // KMS: destroys the key, and every ciphertext with it
    ['DetachRolePolicy', ['update', 'delete']], // IAM: removes a policy (a Deny, say)
    ['batchwriteitem', ['update', 'delete']],
  ])('%s needs %j', (name, actions) => {
    expect(operationActions(name)).toEqual(actions);
  });

  it('gives every other operation the action of its verb', () => {
    expect(operationActions('DeleteQueue')).toEqual(['delete']);
    expect(operationActions('PutItem')).toEqual(['update']);
    expect(operationActions('BatchGetItem')).toEqual(['read']);
  });
});

import { isRejectedCredentials } from './rejectedCredentials';

const xml = (code: string) =>
  Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>m</Message><RequestId>r</RequestId></Error>`);
const queryXml = (code: string) =>
  Buffer.from(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>m</Message></Error></ErrorResponse>`);
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const none = Buffer.alloc(0);

describe('isRejectedCredentials', () => {
  it.each([
    ['S3 ExpiredToken', 403, {}, xml('ExpiredToken')],
    ['S3 InvalidAccessKeyId', 403, {}, xml('InvalidAccessKeyId')],
    ['S3 TokenRefreshRequired', 400, {}, xml('TokenRefreshRequired')],
    ['S3 InvalidToken', 400, {}, xml('InvalidToken')],
    ['query-protocol InvalidClientTokenId', 403, {}, queryXml('InvalidClientTokenId')],
    ['query-protocol ExpiredToken', 403, {}, queryXml('ExpiredToken')],
    ['JSON __type with namespace', 400, {}, json({ __type: 'com.amazonaws.dynamodb.v20120810#ExpiredTokenException', message: 'm' })],
    ['JSON __type UnrecognizedClientException', 400, {}, json({ __type: 'UnrecognizedClientException', message: 'm' })],
    ['JSON code', 403, {}, json({ code: 'ExpiredTokenException', message: 'm' })],
    ['x-amzn-errortype header, empty body', 403, { 'x-amzn-errortype': 'ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/' }, none],
    ['x-amz-error-code header on a HEAD', 403, { 'x-amz-error-code': 'ExpiredToken' }, none],
    ['API Gateway message only', 403, {}, json({ message: 'The security token included in the request is expired' })],
    ['Lambda URL invalid token message', 403, {}, json({ Message: 'The security token included in the request is invalid.' })],
  ])('recognises %s', (_case, status, headers, body) => {
    expect(isRejectedCredentials(status, headers, body)).toBe(true);
  });

  it.each([
    ['S3 AccessDenied', 403, {}, xml('AccessDenied')],
    ['SignatureDoesNotMatch (a signing bug, not stale credentials)', 403, {}, xml('SignatureDoesNotMatch')],
    ['an explicit deny from IAM', 403, {}, json({ Message: 'User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: execute-api:Invoke' })],
    ['a 403 without a body', 403, {}, none],
    ['the right code with another status', 500, {}, xml('ExpiredToken')],
    ['the right code on a 200', 200, {}, xml('ExpiredToken')],
    ['a code as part of a longer word', 403, {}, xml('NotExpiredTokenAtAll')],
    ['malformed JSON', 400, {}, Buffer.from('{"__type": "ExpiredToken')],
    ['the words echoed from the caller inside another error', 400, {}, json({ __type: 'ValidationException', message: 'Value "the security token included in the request is expired" at TableName failed' })],
    ['the words as a field of an app error', 400, {}, json({ error: 'x', detail: 'The security token included in the request is expired' })],
    ['an app error code InvalidToken', 403, {}, json({ code: 'InvalidToken', message: 'your session expired' })],
    ['a header that names another error, whatever the body', 400, { 'x-amzn-errortype': 'ValidationException' }, json({ __type: 'ExpiredTokenException' })],
    ['a <Code> echoed inside the message of another error', 400, {}, Buffer.from('<Error><Code>InvalidArgument</Code><Message>bad <Code>ExpiredToken</Code></Message></Error>')],
    ['a <Code> in a document that is not an AWS error', 403, {}, Buffer.from('<html><Code>ExpiredToken</Code></html>')],
  ])('leaves %s alone', (_case, status, headers, body) => {
    expect(isRejectedCredentials(status, headers, body)).toBe(false);
  });
});

/*
 * Bad configurations (issue 5): each row is something a platform engineer could write or
 * mistype, and each must stop the backend at start with a message that names the route,
 * the field and the problem. Read through readProxyConfig, and one row through a real
 * backend start.
 */
import { ConfigReader } from '@backstage/config';
import { JsonObject } from '@backstage/types';
import { readProxyConfig } from './readRoutes';
import { startProxy } from '../__testUtils__/startProxy';

const aws = { accounts: [{ accountId: '123456789012', roleName: 'reader' }] };
const read = (proxysigv4: JsonObject) =>
  readProxyConfig(new ConfigReader({ aws, proxysigv4 }));

const API = 'https://abc123.execute-api.eu-west-1.amazonaws.com';
const ROLE = 'arn:aws:iam::123456789012:role/reader';
/** A route `/r` with the given fields on an API Gateway target. */
const r = (fields: JsonObject): JsonObject => ({ '/r': { target: `${API}/prod`, ...fields } });
/** A route `/r` with this target. */
const target = (url: string): JsonObject => ({ '/r': { target: url, service: 'execute-api', region: 'eu-west-1' } });

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The message names the route and field, then the problem: proxysigv4['/r'].field: ... problem */
const at = (field: string, problem: RegExp | string, route = '/r') =>
  new RegExp(
    `^proxysigv4\\['${escape(route)}'\\]${field ? `\\.${escape(field)}` : ''}: [\\s\\S]*${
      typeof problem === 'string' ? escape(problem) : problem.source
    }`,
  );

const ARN_PROBLEM = 'is not an IAM role ARN';

describe('bad configurations stop the start with a clear message', () => {
  it.each<[string, JsonObject, RegExp]>([
    // Role ARNs
    ['a role ARN of the wrong partition', r({ roleArn: 'arn:gcp:iam::123456789012:role/reader' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN with an upper-case partition', r({ roleArn: 'arn:AWS:iam::123456789012:role/reader' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN of the wrong service', r({ roleArn: 'arn:aws:sts::123456789012:role/reader' }), at('roleArn', ARN_PROBLEM)],
    ['an assumed-role ARN', r({ roleArn: 'arn:aws:sts::123456789012:assumed-role/reader/session' }), at('roleArn', ARN_PROBLEM)],
    ['a user ARN', r({ roleArn: 'arn:aws:iam::123456789012:user/alice' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN with a region', r({ roleArn: 'arn:aws:iam:eu-west-1:123456789012:role/reader' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN with an 11-digit account', r({ roleArn: 'arn:aws:iam::12345678901:role/reader' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN with a 13-digit account', r({ roleArn: 'arn:aws:iam::1234567890123:role/reader' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN with an account alias', r({ roleArn: 'arn:aws:iam::my-account:role/reader' }), at('roleArn', ARN_PROBLEM)],
    ['a truncated role ARN (no name)', r({ roleArn: 'arn:aws:iam::123456789012:role/' }), at('roleArn', ARN_PROBLEM)],
    ['a truncated role ARN (no role)', r({ roleArn: 'arn:aws:iam::123456789012' }), at('roleArn', ARN_PROBLEM)],
    ['a role name alone', r({ roleArn: 'reader' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN with a space inside', r({ roleArn: 'arn:aws:iam::123456789012:role/my reader' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN with a line break inside', r({ roleArn: 'arn:aws:iam::123456789012:role/reader\nx' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN with a tab inside', r({ roleArn: 'arn:aws:iam::123456789012:role/re\tader' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN with an empty path segment', r({ roleArn: 'arn:aws:iam::123456789012:role//reader' }), at('roleArn', ARN_PROBLEM)],
    ['a role name over 64 characters', r({ roleArn: `arn:aws:iam::123456789012:role/${'r'.repeat(65)}` }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN with a wildcard', r({ roleArn: 'arn:aws:iam::123456789012:role/*' }), at('roleArn', ARN_PROBLEM)],
    ['a role ARN that is a number', r({ roleArn: 123456789012 }), at('roleArn', 'must be a non-empty string')],
    ['an empty role ARN', r({ roleArn: '' }), at('roleArn', 'must be a non-empty string')],
    ['a blank role ARN', r({ roleArn: '   ' }), at('roleArn', 'must be a non-empty string')],
    // Targets: userinfo, query, fragment
    ['a target with user:password@', target('https://user:secret@abc.execute-api.eu-west-1.amazonaws.com'), at('target', 'must not contain credentials')],
    ['a target with user@', target('https://user@abc.execute-api.eu-west-1.amazonaws.com'), at('target', 'must not contain credentials')],
    ['a target with :password@', target('https://:secret@abc.execute-api.eu-west-1.amazonaws.com'), at('target', 'must not contain credentials')],
    ['a target with an empty userinfo @', target('https://@abc.execute-api.eu-west-1.amazonaws.com'), at('target', 'must not contain credentials')],
    ['a target with an empty userinfo @ after a leading space', { '/r': { target: ' https://@abc.execute-api.eu-west-1.amazonaws.com', service: 'execute-api', region: 'eu-west-1' } }, at('target', 'must not contain credentials')],
    ['a target whose userinfo hides the host', target('https://abc.execute-api.eu-west-1.amazonaws.com@evil.example/prod'), at('target', 'must not contain credentials')],
    ['a target with a query', target(`${API}/prod?stage=1`), at('target', 'must not contain a query string')],
    ['a target with an empty query', target(`${API}/prod?`), at('target', 'must not contain a query string')],
    ['a target with a fragment', target(`${API}/prod#x`), at('target', 'must not contain a fragment')],
    ['a target with an empty fragment', target(`${API}/prod#`), at('target', 'must not contain a fragment')],
    // Ports
    ['port 0', target('http://127.0.0.1:0/base'), at('target', 'port 0')],
    ['port 65536', target('http://127.0.0.1:65536/base'), at('target', "is not a valid URL: port '65536' is not a number from 1 to 65535")],
    ['port 99999', target('http://127.0.0.1:99999'), at('target', "is not a valid URL: port '99999' is not a number from 1 to 65535")],
    ['port -1', target('http://127.0.0.1:-1'), at('target', "is not a valid URL: port '-1' is not a number from 1 to 65535")],
    ['a non-numeric port', target('http://127.0.0.1:http'), at('target', "is not a valid URL: port 'http' is not a number from 1 to 65535")],
    ['a port with a sign', target('http://127.0.0.1:+80'), at('target', "is not a valid URL: port '+80' is not a number from 1 to 65535")],
    ['a hexadecimal port', target('http://127.0.0.1:0x50'), at('target', "is not a valid URL: port '0x50' is not a number from 1 to 65535")],
    // Schemes
    ['ftp:', target('ftp://abc.execute-api.eu-west-1.amazonaws.com'), at('target', "scheme 'ftp:' is not supported")],
    ['file:', target('file:///etc/passwd'), at('target', "scheme 'file:' is not supported")],
    // eslint-disable-next-line no-script-url
    ['javascript:', target('javascript:alert(1)'), at('target', "scheme 'javascript:' is not supported")],
    ['ws:', target('ws://abc.execute-api.eu-west-1.amazonaws.com'), at('target', "scheme 'ws:' is not supported")],
    ['wss:', target('wss://abc.execute-api.eu-west-1.amazonaws.com'), at('target', "scheme 'wss:' is not supported")],
    ['data:', target('data:text/plain,hello'), at('target', "scheme 'data:' is not supported")],
    ['s3:', target('s3://my-bucket/prefix'), at('target', "scheme 's3:' is not supported")],
    ['a misspelt scheme', target('htps://abc.execute-api.eu-west-1.amazonaws.com'), at('target', "scheme 'htps:' is not supported")],
    // Empty, relative and malformed targets
    ['an empty target', { '/r': '' }, at('target', /'' is not a valid URL/)],
    ['an empty target field', { '/r': { target: '' } }, at('target', /'' is not a valid URL/)],
    ['a missing target', { '/r': { service: 'execute-api', region: 'eu-west-1' } }, at('target', 'is required')],
    ['a target that is not a string', { '/r': { target: 42 } }, at('target', 'is required and must be a URL string')],
    ['a relative path', target('/prod'), at('target', /'\/prod' is not a valid URL/)],
    ['a host without a scheme', target('abc.execute-api.eu-west-1.amazonaws.com/prod'), at('target', 'is not a valid URL')],
    ['a scheme-relative target', target('//abc.execute-api.eu-west-1.amazonaws.com/prod'), at('target', 'is not a valid URL')],
    ['a scheme without a host', target('https://'), at('target', 'is not a valid URL')],
    ['a space in the host', target('https://abc .execute-api.eu-west-1.amazonaws.com'), at('target', 'is not a valid URL')],
    ['three slashes after the scheme', target('https:///abc.execute-api.eu-west-1.amazonaws.com/prod'), at('target', 'must be written as https://host[:port][/path]')],
    ['backslashes after the scheme', target('https:\\\\abc.execute-api.eu-west-1.amazonaws.com/prod'), at('target', 'must be written as https://host[:port][/path]')],
    ['one slash after the scheme', target('https:/abc.execute-api.eu-west-1.amazonaws.com/prod'), at('target', 'must be written as https://host[:port][/path]')],
    ['a backslash before an @ (a URL reads the host as evil.example)', target('https://evil.example\\@abc.execute-api.eu-west-1.amazonaws.com/prod'), at('target', 'must not contain a backslash')],
    ['a backslash in the path', target(`${API}/prod\\admin`), at('target', 'must not contain a backslash')],
    ['a dot segment at the end of the target path', target(`${API}/prod/..`), at('target', 'dot segment')],
    ['a . segment in the target path', target(`${API}/./prod`), at('target', 'dot segment')],
    ['a dot segment in the target path', target(`${API}/prod/../admin`), at('target', 'dot segment')],
    ['an encoded dot segment in the target path', target(`${API}/prod/%2e%2e/admin`), at('target', 'dot segment')],
    ['a malformed escape in the target path', target(`${API}/prod/%zz`), at('target', 'Malformed percent-encoding')],
    ['a NUL in the target path', target(`${API}/prod/%00`), at('target', 'Control character')],
    // Plain http off loopback: the signed request and session token in clear
    ['an upper-case HTTP scheme to a remote host', target('HTTP://api.example.com/prod'), at('target', "plain http to 'api.example.com'")],
    ['http to a name that begins with localhost', target('http://localhost.evil.example/prod'), at('target', "plain http to 'localhost.evil.example'")],
    ['http to a name that ends in 127.0.0.1', target('http://evil.example.127.0.0.1.nip.io/prod'), at('target', 'plain http to')],
    ['http to the unspecified address', target('http://0.0.0.0:8080/prod'), at('target', "plain http to '0.0.0.0'")],
    ['http to an AWS endpoint, opted in', { '/r': { target: 'http://abc.execute-api.eu-west-1.amazonaws.com/prod', dangerouslyAllowHttp: true } }, at('dangerouslyAllowHttp', 'is an AWS endpoint')],
    ['http to an AWS endpoint written with a trailing dot, opted in', { '/r': { target: 'http://abc.execute-api.eu-west-1.amazonaws.com./prod', service: 'execute-api', region: 'eu-west-1', dangerouslyAllowHttp: true } }, at('dangerouslyAllowHttp', 'is an AWS endpoint')],
    ['http to an AWS endpoint written with two trailing dots, opted in', { '/r': { target: 'http://s3.amazonaws.com../b', service: 's3', region: 'us-east-1', dangerouslyAllowHttp: true } }, at('dangerouslyAllowHttp', 'is an AWS endpoint')],
    ['http to the European Sovereign Cloud, opted in', { '/r': { target: 'http://s3.eusc-de-east-1.amazonaws.eu/b', service: 's3', region: 'eusc-de-east-1', dangerouslyAllowHttp: true } }, at('dangerouslyAllowHttp', 'is an AWS endpoint')],
    ['http to an AWS endpoint in upper case, opted in', { '/r': { target: 'http://SQS.EU-WEST-1.AMAZONAWS.COM', dangerouslyAllowHttp: true } }, at('dangerouslyAllowHttp', 'is an AWS endpoint')],
    // The user cookie where a GET can change things
    ['user-cookie on API Gateway', r({ credentials: 'user-cookie' }), at('credentials', 'user-cookie is only accepted on S3 routes')],
    ['user-cookie on SNS', { '/r': { target: 'https://sns.eu-west-1.amazonaws.com', credentials: 'user-cookie' } }, at('credentials', "on 'sns' a GET can change things")],
    // Duplicate routes
    ['/a and /a/', { '/a': `${API}/a`, '/a/': `${API}/b` }, at('', "duplicates route '/a'", '/a/')],
    ['/a and /a//', { '/a': `${API}/a`, '/a//': `${API}/b` }, at('', "duplicates route '/a'", '/a//')],
    ['/ and //', { '/': `${API}/a`, '//': `${API}/b` }, at('', "duplicates route '/'", '//')],
    ['/a and //a (an empty segment routes the same)', { '/a': `${API}/a`, '//a': `${API}/b` }, at('', 'route keys are plain paths', '//a')],
    ['/a and /%61 (encoded: routes the same)', { '/a': `${API}/a`, '/%61': `${API}/b` }, at('', 'route keys are plain paths', '/%61')],
    ['/a and /./a', { '/a': `${API}/a`, '/./a': `${API}/b` }, at('', 'route keys are plain paths', '/./a')],
    ['/a and /b/../a', { '/a': `${API}/a`, '/b/../a': `${API}/b` }, at('', 'route keys are plain paths', '/b/../a')],
    // The reserved path
    ['/_routes', { '/_routes': `${API}/a` }, at('', '/_routes is reserved', '/_routes')],
    ['/_routes/', { '/_routes/': `${API}/a` }, at('', '/_routes is reserved', '/_routes/')],
    ['a route under /_routes', { '/_routes/x': `${API}/a` }, at('', '/_routes is reserved', '/_routes/x')],
    ['a route deep under /_routes', { '/_routes/a/b': `${API}/a` }, at('', '/_routes is reserved', '/_routes/a/b')],
    // Route keys
    ['a key without a leading slash', { reports: `${API}/a` }, /^proxysigv4\.reports: unknown setting; route keys must begin with '\/'/],
    ['a key with a space', { '/a b': `${API}/a` }, at('', 'route keys are plain paths', '/a b')],
    ['a key with a trailing space', { '/a ': `${API}/a` }, at('', 'route keys are plain paths', '/a ')],
    ['a key with a query', { '/a?x=1': `${API}/a` }, at('', 'route keys are plain paths', '/a?x=1')],
    ['a key with a fragment', { '/a#x': `${API}/a` }, at('', 'route keys are plain paths', '/a#x')],
    ['a key with a backslash', { '/a\\b': `${API}/a` }, at('', 'route keys are plain paths', '/a\\b')],
    ['a key with a NUL', { '/a\u0000': `${API}/a` }, at('', 'route keys are plain paths', '/a\u0000')],
    ['a key that is ..', { '/..': `${API}/a` }, at('', 'route keys are plain paths', '/..')],
    // Other mistypes
    ['an unknown field (typo)', r({ tagret: `${API}/b` }), at('tagret', 'unknown field')],
    ['a field in the wrong case', r({ RoleArn: ROLE }), at('RoleArn', 'unknown field')],
    ['a route that is a list', { '/r': [`${API}/a`] }, at('', 'must be a target URL or an object')],
    ['a route that is true', { '/r': true }, at('', 'must be a target URL or an object')],
    ['an underivable service', { '/r': 'https://api.example.com' }, at('service', "cannot be derived from host 'api.example.com'")],
    ['a signing name with upper case', r({ service: 'S3' }), at('service', 'is not a valid signing name')],
    ['a region in upper case', r({ region: 'EU-WEST-1' }), at('region', 'is not a valid AWS region')],
    ['a region with an availability zone', r({ region: 'eu-west-1a' }), at('region', 'is not a valid AWS region')],
    ['CONNECT as an allowed method', r({ allowedMethods: ['GET', 'CONNECT'] }), at('allowedMethods', "'CONNECT' is not one of")],
    ['TRACE as an allowed method', r({ allowedMethods: ['TRACE'] }), at('allowedMethods', "'TRACE' is not one of")],
    ['allowedMethods as a string', r({ allowedMethods: 'GET' }), at('allowedMethods', 'must be a list of strings')],
    ['Host as an allowed header', r({ allowedHeaders: ['Host'] }), at('allowedHeaders', 'can never be forwarded')],
    ['X-Forwarded-Host as an allowed header', r({ allowedHeaders: ['X-Forwarded-Host'] }), at('allowedHeaders', 'can never be forwarded')],
    ['Forwarded as an allowed header', r({ allowedHeaders: ['forwarded'] }), at('allowedHeaders', 'can never be forwarded')],
    ['Transfer-Encoding as an allowed header', r({ allowedHeaders: ['transfer-encoding'] }), at('allowedHeaders', 'can never be forwarded')],
    ['a header name with a colon', r({ allowedHeaders: ['x-a:'] }), at('allowedHeaders', 'is not a valid header name')],
    ['a header name with a line break', r({ allowedHeaders: ['x-a\r\nx-b'] }), at('allowedHeaders', 'is not a valid header name')],
    ['Set-Cookie2 as an allowed response header', r({ allowedResponseHeaders: ['set-cookie2'] }), at('allowedResponseHeaders', 'can never be forwarded')],
    ['an upstream CORS header as an allowed response header', r({ allowedResponseHeaders: ['Access-Control-Allow-Origin'] }), at('allowedResponseHeaders', 'can never be forwarded')],
    ['Service-Worker-Allowed as an allowed response header', r({ allowedResponseHeaders: ['service-worker-allowed'] }), at('allowedResponseHeaders', 'can never be forwarded')],
    ['Connection as an allowed response header', r({ allowedResponseHeaders: ['Connection'] }), at('allowedResponseHeaders', 'can never be forwarded')],
    ['a fractional maxBodySize', r({ maxBodySize: 1.5 }), at('maxBodySize', 'must be a whole number')],
    ['maxBodySize as a string', r({ maxBodySize: '10MB' }), at('maxBodySize', 'must be a whole number')],
    ['maxBodySize over 2 GiB', r({ maxBodySize: 2 ** 31 }), at('maxBodySize', 'must be a whole number')],
    ['a zero timeout', r({ timeout: 0 }), at('timeout', 'must be a whole number from 1')],
    ['a timeout in seconds as a string', r({ timeout: '30s' }), at('timeout', 'must be a whole number')],
    ['credentials misspelt', r({ credentials: 'allow-unauthenticated' }), at('credentials', "'allow-unauthenticated' is not one of")],
    ['credentials as a boolean', r({ credentials: false }), at('credentials', 'must be a non-empty string')],
    ['unsignedPayload on a non-S3 route', r({ unsignedPayload: true }), at('unsignedPayload', 'is only accepted by S3')],
    ['an account id with a dash', r({ accountId: '1234-5678-9012' }), at('accountId', 'must be a 12-digit')],
    ['an account id as a number', r({ accountId: 123456789012 }), at('accountId', 'must be a non-empty string')],
    ['an external id without a role', r({ externalId: 'abc123' }), at('externalId', 'is only used together with roleArn')],
    ['an STS endpoint over plain http', r({ roleArn: ROLE, stsEndpoint: 'http://sts.example.com' }), at('stsEndpoint', 'must be an https URL')],
    ['an STS endpoint with userinfo', r({ roleArn: ROLE, stsEndpoint: 'https://u:p@sts.example.com' }), at('stsEndpoint', 'must not contain credentials')],
    ['an STS endpoint on port 65536', r({ roleArn: ROLE, stsEndpoint: 'https://sts.example.com:65536' }), at('stsEndpoint', "port '65536' is not a number from 1 to 65535")],
    ['an STS endpoint on port 0', r({ roleArn: ROLE, stsEndpoint: 'https://sts.example.com:0' }), at('stsEndpoint', 'port 0')],
    ['a credentials endpoint on port 0', r({ credentialsEndpoint: { url: 'https://creds.example.com:0/c' } }), at('credentialsEndpoint.url', 'port 0')],
    ['a credentials endpoint over ftp', r({ credentialsEndpoint: { url: 'ftp://creds.example.com/c' } }), at('credentialsEndpoint.url', 'must be an https URL')],
    ['the Segment switch as a string', { allowUnauthenticatedRequests: 'true' }, /^proxysigv4\.allowUnauthenticatedRequests must be true or false/],
    ['the section as a list', [] as unknown as JsonObject, /^proxysigv4 must be a map of routes/],
  ])('%s', (_name, config, message) => {
    expect(() => read(config)).toThrow(message);
  });
});

describe('a bad configuration through a real backend', () => {
  it('refuses to start, with the message', async () => {
    await expect(
      startProxy({ '/reports': { target: 'https://reader:secret@reports.s3.eu-west-1.amazonaws.com' } }),
    ).rejects.toThrow(/proxysigv4\['\/reports'\]\.target: must not contain credentials/);
  });

  it('refuses a route under the reserved path, with the message', async () => {
    await expect(startProxy({ '/_routes/x': `${API}/a` })).rejects.toThrow(
      /proxysigv4\['\/_routes\/x'\]: \/_routes is reserved/,
    );
  });
});

import { ConfigReader } from '@backstage/config';
import { JsonObject } from '@backstage/types';
import { FIELD_RANGES, readProxyConfig } from './readRoutes';
import { MAX_GROUP_TAGS_LIMIT } from '../credentials/sessionTags';

const aws = { accounts: [{ accountId: '123456789012', roleName: 'reader' }] };
const read = (proxysigv4: JsonObject) =>
  readProxyConfig(new ConfigReader({ aws, proxysigv4 }));
const readRoute = (route: JsonObject | string) => read({ '/r': route }).routes[0];

describe('readProxyConfig', () => {
  it('reads no routes when the section is absent', () => {
    expect(readProxyConfig(new ConfigReader({})).routes).toEqual([]);
  });

  it('reads the short form and derives service and region', () => {
    const route = readRoute('https://abc123.execute-api.eu-west-1.amazonaws.com/prod');
    expect(route).toMatchObject({
      route: '/r',
      protocol: 'https:',
      hostname: 'abc123.execute-api.eu-west-1.amazonaws.com',
      hostHeader: 'abc123.execute-api.eu-west-1.amazonaws.com',
      port: undefined,
      basePath: '/prod',
      service: 'execute-api',
      region: 'eu-west-1',
      s3: false,
      credentialSource: { kind: 'main' },
      credentialsPolicy: 'require',
      allowedMethods: new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']),
      maxBodySize: 10485760,
      unsignedPayload: false,
      timeout: 30000,
      debug: false,
    });
  });

  it('reads every field of the expanded form', () => {
    const route = readRoute({
      target: 'https://reports-bucket.s3.eu-west-1.amazonaws.com',
      service: 's3',
      region: 'eu-west-1',
      accountId: '123456789012',
      credentials: 'dangerously-allow-unauthenticated',
      allowedMethods: ['get', 'HEAD'],
      allowedHeaders: ['X-Custom-Header'],
      allowedResponseHeaders: ['x-custom-reply'],
      maxBodySize: 1024,
      unsignedPayload: true,
      timeout: 5000,
      debug: true,
    });
    expect(route).toMatchObject({
      basePath: '/',
      s3: true,
      credentialSource: { kind: 'account', accountId: '123456789012' },
      credentialsPolicy: 'dangerously-allow-unauthenticated',
      allowedMethods: new Set(['GET', 'HEAD']),
      allowedHeaders: new Set(['x-custom-header']),
      allowedResponseHeaders: new Set(['x-custom-reply']),
      maxBodySize: 1024,
      unsignedPayload: true,
      timeout: 5000,
      debug: true,
    });
  });

  it.each([
    ['s3', true],
    ['s3-object-lambda', true],
    ['s3express', true],
    ['execute-api', false],
  ])('applies S3 rules to service %s: %s', (service, s3) => {
    const route = readRoute({
      target: 'https://bucket--use1-az4--x-s3.s3express-use1-az4.us-east-1.amazonaws.com',
      service,
      region: 'us-east-1',
    });
    expect(route.s3).toBe(s3);
  });

  it('keeps a non-default port in the Host header and normalises the route key', () => {
    const { routes } = read({
      '/local/': { target: 'http://127.0.0.1:9000/base path/', service: 'execute-api', region: 'us-east-1' },
    });
    expect(routes[0]).toMatchObject({
      route: '/local',
      port: 9000,
      hostHeader: '127.0.0.1:9000',
      basePath: '/base%20path/',
    });
  });

  it('refuses an accountId that aws.accounts does not know', () => {
    const proxysigv4 = { '/r': { target: 'https://s3.amazonaws.com', accountId: '210987654321' } };
    expect(() => readProxyConfig(new ConfigReader({ aws, proxysigv4 }))).toThrow(
      /proxysigv4\['\/r'\]\.accountId: account 210987654321 is not in aws.accounts/,
    );
    expect(
      readProxyConfig(new ConfigReader({ aws: { accountDefaults: { roleName: 'r' } }, proxysigv4 })).routes[0]
        .credentialSource,
    ).toEqual({ kind: 'account', accountId: '210987654321' });
    // accountDefaults without a roleName would make the integration ask STS on a request.
    expect(() =>
      readProxyConfig(new ConfigReader({ aws: { accountDefaults: { region: 'eu-west-1' } }, proxysigv4 })),
    ).toThrow(/aws.accountDefaults.roleName is not set/);
    // The account that assumes a role is checked too.
    expect(() =>
      read({ '/r': { target: 'https://s3.amazonaws.com', accountId: '210987654321', roleArn: 'arn:aws:iam::123456789012:role/x' } }),
    ).toThrow(/accountId: account 210987654321 is not in aws.accounts/);
  });

  it('reads a role: external id, session name, duration, STS region and endpoint, source account', () => {
    const { routes, checkCredentialsOnStart } = read({
      checkCredentialsOnStart: false,
      '/billing': {
        target: 'https://abc.execute-api.us-east-1.amazonaws.com/prod',
        roleArn: 'arn:aws:iam::210987654321:role/backstage-billing-read',
        externalId: 'ext-123',
        roleSessionName: 'backstage-billing',
        durationSeconds: 3600,
        stsRegion: 'eu-central-1',
        stsEndpoint: 'https://vpce-0a1b.sts.eu-central-1.vpce.amazonaws.com/',
        accountId: '123456789012',
      },
      '/cn': {
        target: 'https://abc.execute-api.cn-north-1.amazonaws.com.cn/prod',
        roleArn: 'arn:aws-cn:iam::210987654321:role/path/reader',
      },
    });
    expect(checkCredentialsOnStart).toBe(false);
    expect(routes[0].credentialSource).toEqual({
      kind: 'role',
      roleArn: 'arn:aws:iam::210987654321:role/backstage-billing-read',
      externalId: 'ext-123',
      roleSessionName: 'backstage-billing',
      durationSeconds: 3600,
      sts: { region: 'eu-central-1', endpoint: 'https://vpce-0a1b.sts.eu-central-1.vpce.amazonaws.com' },
      source: { kind: 'account', accountId: '123456789012' },
    });
    // Defaults: the session name, and the route's own region for STS.
    expect(routes[1].credentialSource).toEqual({
      kind: 'role',
      roleArn: 'arn:aws-cn:iam::210987654321:role/path/reader',
      externalId: undefined,
      roleSessionName: 'backstage-proxy-sigv4',
      durationSeconds: undefined,
      sts: { region: 'cn-north-1', endpoint: undefined },
      source: { kind: 'main' },
    });
    expect(read({ '/x': 'https://s3.amazonaws.com' }).checkCredentialsOnStart).toBe(true);
  });

  it('reads a credentials endpoint, with its headers, role and external id', () => {
    const route = readRoute({
      target: 'https://xyz.execute-api.eu-west-1.amazonaws.com/v1',
      credentialsEndpoint: { url: 'https://sts-helper.internal/credentials', headers: { 'X-Api-Key': 'k' } },
      roleArn: 'arn:aws:iam::111122223333:role/partner',
      externalId: '7f1c-ext',
    });
    expect(route.credentialSource).toEqual({
      kind: 'endpoint',
      url: 'https://sts-helper.internal/credentials',
      headers: { 'x-api-key': 'k' },
      roleArn: 'arn:aws:iam::111122223333:role/partner',
      externalId: '7f1c-ext',
      region: 'eu-west-1',
      service: 'execute-api',
    });
    // Plain http is for loopback only.
    expect(
      readRoute({ target: 'https://xyz.execute-api.eu-west-1.amazonaws.com', credentialsEndpoint: { url: 'http://127.0.0.1:8080/c' } })
        .credentialSource,
    ).toMatchObject({ kind: 'endpoint', url: 'http://127.0.0.1:8080/c', headers: {} });
  });

  it('never repeats a secret in an error', () => {
    expect(() =>
      readRoute({ target: 'https://s3.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x', externalId: 'secret value!' }),
    ).toThrow(/^(?!.*secret value).*externalId/);
    expect(() =>
      readRoute({ target: 'https://s3.amazonaws.com', credentialsEndpoint: { url: 'https://h.internal', headers: { 'x-key': 'top-secret\n' } } }),
    ).toThrow(/^(?!.*top-secret).*headers\.x-key/);
  });

  it('loads Segment plugin configs unchanged', () => {
    const { routes } = read({
      allowUnauthenticatedRequests: true,
      '/short': 'https://abc.execute-api.us-east-1.amazonaws.com/dev',
      '/long': {
        target: 'https://search-x.us-west-2.es.amazonaws.com',
        service: 'es',
        region: 'us-west-2',
      },
      '/role': {
        target: 'https://search-y.us-west-2.es.amazonaws.com',
        roleArn: 'arn:aws:iam::123456789012:role/es-reader',
        roleSessionName: 'tempAssumeRoleSession',
      },
    });
    expect(routes.map(r => [r.route, r.service, r.credentialsPolicy])).toEqual([
      ['/short', 'execute-api', 'dangerously-allow-unauthenticated'],
      ['/long', 'es', 'dangerously-allow-unauthenticated'],
      ['/role', 'es', 'dangerously-allow-unauthenticated'],
    ]);
    expect(routes[2].credentialSource).toMatchObject({
      kind: 'role',
      roleArn: 'arn:aws:iam::123456789012:role/es-reader',
      roleSessionName: 'tempAssumeRoleSession',
      source: { kind: 'main' },
    });
    // Explicitly false: every route requires credentials
    expect(
      read({ allowUnauthenticatedRequests: false, '/s': 'https://abc.execute-api.us-east-1.amazonaws.com' })
        .routes[0].credentialsPolicy,
    ).toBe('require');
  });

  it('lets a route require credentials even when the Segment switch opens the others', () => {
    const { routes } = read({
      allowUnauthenticatedRequests: true,
      '/closed': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', credentials: 'require' },
    });
    expect(routes[0].credentialsPolicy).toBe('require');
  });

  it('reads user-cookie routes and permissions; a permission closes a route the Segment switch would open', () => {
    const api = 'https://abc.execute-api.us-east-1.amazonaws.com';
    const { routes } = read({
      allowUnauthenticatedRequests: true,
      '/img': { target: 'https://img.s3.us-east-1.amazonaws.com', credentials: 'user-cookie', permission: 'proxy-sigv4.img.read' },
      '/reports': { target: api, permission: 'proxy-sigv4.reports.use' },
      '/open': api,
    });
    expect(routes.map(r => [r.route, r.credentialsPolicy, r.permission])).toEqual([
      ['/img', 'user-cookie', 'proxy-sigv4.img.read'],
      ['/reports', 'require', 'proxy-sigv4.reports.use'],
      ['/open', 'dangerously-allow-unauthenticated', undefined],
    ]);
  });

  it('reads allowedOperations and the plain-http opt-in', () => {
    const { routes } = read({
      '/queues': { target: 'https://sqs.eu-west-1.amazonaws.com', allowedOperations: [' ListQueues ', 'Get*', 'Receive*'] },
      '/local': { target: 'http://localstack:4566', service: 'sqs', region: 'us-east-1', dangerouslyAllowHttp: true },
      '/loop': { target: 'http://localhost:4566', service: 'sqs', region: 'us-east-1' },
      '/v6': { target: 'http://[::1]:4566', service: 'sqs', region: 'us-east-1' },
    });
    expect(routes.map(r => [r.route, r.allowedOperations, r.dangerouslyAllowHttp])).toEqual([
      ['/queues', ['ListQueues', 'Get*', 'Receive*'], false],
      ['/local', undefined, true],
      ['/loop', undefined, false],
      ['/v6', undefined, false],
    ]);
  });

  it('never repeats the password of a URL it cannot read', () => {
    expect(() => read({ '/r': 'https://user:s3cr3t@abc.execute-api.us-east-1.amazonaws.com:99999/x' })).toThrow(
      "proxysigv4['/r'].target: 'https://***@abc.execute-api.us-east-1.amazonaws.com:99999/x' is not a valid URL: port '99999' is not a number from 1 to 65535",
    );
    expect(() => read({ '/r': 'https://user:s3cr3t@host:12ab' })).toThrow(/^(?!.*s3cr3t)/);
  });

  it.each<[string, JsonObject, RegExp]>([
    ['a permission on an open route', { '/r': { target: 'https://s3.amazonaws.com', credentials: 'dangerously-allow-unauthenticated', permission: 'p.read' } }, /\.permission: needs callers with Backstage credentials/],
    ['a permission name with spaces', { '/r': { target: 'https://s3.amazonaws.com', permission: 'read all' } }, /\.permission: 'read all' is not a permission name/],
    ['a permission that is not a string', { '/r': { target: 'https://s3.amazonaws.com', permission: true } }, /\.permission: must be a non-empty string/],
    ['an unknown field', { '/r': { target: 'https://s3.amazonaws.com', tagret: 'x' } }, /proxysigv4\['\/r'\]\.tagret: unknown field/],
    ['a missing target', { '/r': { service: 's3' } }, /proxysigv4\['\/r'\]\.target: is required/],
    ['a bad URL', { '/r': 'not a url' }, /proxysigv4\['\/r'\]\.target: 'not a url' is not a valid URL/],
    ['a non-http scheme', { '/r': 'ftp://s3.amazonaws.com' }, /\.target: scheme 'ftp:' is not supported/],
    ['credentials in the URL', { '/r': 'https://user:pw@s3.amazonaws.com' }, /\.target: must not contain credentials/],
    ['a query string', { '/r': 'https://s3.amazonaws.com/b?x=1' }, /\.target: must not contain a query string/],
    ['an empty query string', { '/r': 'https://s3.amazonaws.com/b?' }, /\.target: must not contain a query string/],
    ['a malformed S3 target path', { '/r': 'https://b.s3.eu-west-1.amazonaws.com/%zz' }, /proxysigv4\['\/r'\]\.target: path: Malformed percent-encoding/],
    ['a malformed target path', { '/r': 'https://abc.execute-api.us-east-1.amazonaws.com/%zz' }, /proxysigv4\['\/r'\]\.target: path: Malformed percent-encoding/],
    ['a fragment', { '/r': 'https://s3.amazonaws.com/b#x' }, /\.target: must not contain a fragment/],
    ['a bad method', { '/r': { target: 'https://s3.amazonaws.com', allowedMethods: ['GET', 'FETCH'] } }, /\.allowedMethods: 'FETCH' is not one of/],
    ['an empty method list', { '/r': { target: 'https://s3.amazonaws.com', allowedMethods: [] } }, /\.allowedMethods: must list at least one/],
    ['an underivable service', { '/r': 'https://api.example.com' }, /proxysigv4\['\/r'\]\.service: cannot be derived from host 'api.example.com'/],
    ['an underivable region', { '/r': { target: 'https://api.example.com', service: 'execute-api' } }, /\.region: cannot be derived from host 'api.example.com'/],
    ['an accelerate host without region', { '/r': 'https://b.s3-accelerate.amazonaws.com' }, /\.region: cannot be derived/],
    ['a bad region', { '/r': { target: 'https://s3.amazonaws.com', region: 'mars' } }, /\.region: 'mars' is not a valid AWS region/],
    ['a bad service', { '/r': { target: 'https://s3.amazonaws.com', service: 'S3 ' } }, /\.service: 'S3' is not a valid signing name/],
    ['a bad account id', { '/r': { target: 'https://s3.amazonaws.com', accountId: '1234' } }, /\.accountId: must be a 12-digit/],
    ['a numeric account id', { '/r': { target: 'https://s3.amazonaws.com', accountId: 123456789012 } }, /\.accountId: must be a non-empty string/],
    ['a bad credentials policy', { '/r': { target: 'https://s3.amazonaws.com', credentials: 'forward' } }, /\.credentials: 'forward' is not one of require, user-cookie, dangerously-allow-unauthenticated/],
    ['a forbidden request header', { '/r': { target: 'https://s3.amazonaws.com', allowedHeaders: ['Authorization'] } }, /\.allowedHeaders: 'Authorization' can never be forwarded/],
    ['a forbidden signing header', { '/r': { target: 'https://s3.amazonaws.com', allowedHeaders: ['x-amz-security-token'] } }, /\.allowedHeaders: .* can never be forwarded/],
    ['a cookie header', { '/r': { target: 'https://s3.amazonaws.com', allowedHeaders: ['cookie'] } }, /\.allowedHeaders: 'cookie' can never be forwarded/],
    ['a forbidden response header', { '/r': { target: 'https://s3.amazonaws.com', allowedResponseHeaders: ['Set-Cookie'] } }, /\.allowedResponseHeaders: 'Set-Cookie' can never be forwarded/],
    ['an invalid header name', { '/r': { target: 'https://s3.amazonaws.com', allowedHeaders: ['bad header'] } }, /\.allowedHeaders: 'bad header' is not a valid header name/],
    ['a negative body size', { '/r': { target: 'https://s3.amazonaws.com', maxBodySize: -1 } }, /\.maxBodySize: must be a whole number/],
    ['a string timeout', { '/r': { target: 'https://s3.amazonaws.com', timeout: '30s' } }, /\.timeout: must be a whole number/],
    ['unsignedPayload off S3', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', unsignedPayload: true } }, /\.unsignedPayload: is only accepted by S3/],
    ['a non-boolean unsignedPayload', { '/r': { target: 'https://s3.amazonaws.com', unsignedPayload: 'yes' } }, /\.unsignedPayload: must be true or false/],
    ['a non-boolean debug', { '/r': { target: 'https://s3.amazonaws.com', debug: 'yes' } }, /\.debug: must be true or false/],
    ['roleSessionName alone', { '/r': { target: 'https://s3.amazonaws.com', roleSessionName: 'session' } }, /\.roleSessionName: is only used together with roleArn/],
    ['durationSeconds alone', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', durationSeconds: 900 } }, /\.durationSeconds: is only used together with roleArn/],
    ['externalId alone', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', externalId: 'abcdef' } }, /\.externalId: is only used together with roleArn/],
    ['a user ARN as roleArn', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:user/x' } }, /\.roleArn: 'arn:aws:iam::123456789012:user\/x' is not an IAM role ARN/],
    ['a role ARN with trailing text', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x extra' } }, /\.roleArn: .* is not an IAM role ARN/],
    ['a role ARN with a short account', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::1234:role/x' } }, /\.roleArn: .* is not an IAM role ARN/],
    ['a role ARN in no partition', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:gcp:iam::123456789012:role/x' } }, /\.roleArn: .* is not an IAM role ARN/],
    ['a role ARN with a region', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam:us-east-1:123456789012:role/x' } }, /\.roleArn: .* is not an IAM role ARN/],
    ['an external id with spaces', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x', externalId: 'has spaces' } }, /\.externalId: must be 2 to 1224 characters/],
    ['a session name too long', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x', roleSessionName: 'x'.repeat(65) } }, /\.roleSessionName: must be 2 to 64 characters/],
    ['a duration under 15 minutes', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x', durationSeconds: 899 } }, /\.durationSeconds: must be a whole number from 900 to 43200/],
    ['a duration over 12 hours', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x', durationSeconds: 43201 } }, /\.durationSeconds: must be a whole number from 900 to 43200/],
    ['a bad STS region', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x', stsRegion: 'global' } }, /\.stsRegion: 'global' is not a valid AWS region/],
    ['a plain-http STS endpoint off loopback', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x', stsEndpoint: 'http://sts.example.com' } }, /\.stsEndpoint: must be an https URL \(plain http only on loopback/],
    ['an STS endpoint with a path', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x', stsEndpoint: 'https://sts.example.com/x' } }, /\.stsEndpoint: must be a scheme, host and port only/],
    ['an STS endpoint with credentials', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x', stsEndpoint: 'https://a:b@sts.example.com' } }, /\.stsEndpoint: must not contain credentials/],
    ['a credentials endpoint that is a string', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', credentialsEndpoint: 'https://x.example' } }, /\.credentialsEndpoint: must be an object with url/],
    ['a credentials endpoint without url', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', credentialsEndpoint: { headers: {} } } }, /\.credentialsEndpoint\.url: is required/],
    ['a plain-http credentials endpoint off loopback', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', credentialsEndpoint: { url: 'http://helper.internal/c' } } }, /\.credentialsEndpoint\.url: must be an https URL/],
    ['a credentials endpoint with a query', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', credentialsEndpoint: { url: 'https://helper.internal/c?key=1' } } }, /\.credentialsEndpoint\.url: must not contain a query string/],
    ['an unknown credentials endpoint field', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', credentialsEndpoint: { url: 'https://h.internal', method: 'GET' } } }, /\.credentialsEndpoint\.method: unknown field/],
    ['a credentials endpoint header the plugin sets', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', credentialsEndpoint: { url: 'https://h.internal', headers: { Host: 'x' } } } }, /\.credentialsEndpoint\.headers: 'Host' is set by the plugin/],
    ['a credentials endpoint header with a line break', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', credentialsEndpoint: { url: 'https://h.internal', headers: { 'x-key': 'a\r\nb' } } } }, /\.credentialsEndpoint\.headers\.x-key: must be a string of printable ASCII/],
    ['a credentials endpoint with accountId', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', accountId: '123456789012', credentialsEndpoint: { url: 'https://h.internal' } } }, /\.accountId: is not used with credentialsEndpoint/],
    ['a credentials endpoint with durationSeconds', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/x', durationSeconds: 900, credentialsEndpoint: { url: 'https://h.internal' } } }, /\.durationSeconds: is not used with credentialsEndpoint/],
    ['the reserved route check path', { '/_routes': 'https://s3.amazonaws.com' }, /proxysigv4\['\/_routes'\]: \/_routes is reserved for the plugin's route check/],
    ['a route under the reserved path', { '/_routes/x': 'https://s3.amazonaws.com' }, /\/_routes is reserved/],
    ['a non-boolean start check switch', { checkCredentialsOnStart: 'no' }, /checkCredentialsOnStart must be true or false/],
    ['a route that is neither URL nor object', { '/r': 42 }, /proxysigv4\['\/r'\]: must be a target URL/],
    ['a key without a slash', { reports: 'https://s3.amazonaws.com' }, /proxysigv4\.reports: unknown setting; route keys must begin with '\/'/],
    ['a route key with a dot segment', { '/a/../b': 'https://s3.amazonaws.com' }, /route keys are plain paths/],
    ['a route key with encoding', { '/a%20b': 'https://s3.amazonaws.com' }, /route keys are plain paths/],
    // user-cookie: only where every GET is a read (S3)
    ['user-cookie on API Gateway', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', credentials: 'user-cookie' } }, /proxysigv4\['\/r'\]\.credentials: user-cookie is only accepted on S3 routes, where every GET and HEAD is a read; on 'execute-api' a GET can change things/],
    ['user-cookie on a query-protocol API', { '/r': { target: 'https://sqs.eu-west-1.amazonaws.com', credentials: 'user-cookie' } }, /\.credentials: user-cookie is only accepted on S3 routes.*on 'sqs'.*GET \/\?Action=DeleteQueue/],
    ['user-cookie on a local non-S3 API', { '/r': { target: 'http://127.0.0.1:9000', service: 'sqs', region: 'us-east-1', credentials: 'user-cookie' } }, /\.credentials: user-cookie is only accepted on S3 routes/],
    // plain http: loopback only, unless the operator opts in; never to AWS
    ['plain http to an AWS endpoint', { '/r': 'http://reports.s3.eu-west-1.amazonaws.com' }, /proxysigv4\['\/r'\]\.target: plain http to 'reports\.s3\.eu-west-1\.amazonaws\.com' would carry every signed request, its session token, bodies and answers in clear; use https/],
    ['plain http to a private host', { '/r': { target: 'http://localstack:4566', service: 'sqs', region: 'us-east-1' } }, /\.target: plain http to 'localstack'.*set dangerouslyAllowHttp: true/],
    ['plain http to a private address', { '/r': { target: 'http://10.0.0.5:4566/b', service: 's3', region: 'us-east-1' } }, /\.target: plain http to '10\.0\.0\.5'/],
    ['plain http to a host that merely begins like loopback', { '/r': { target: 'http://127.0.0.1.nip.io/b', service: 's3', region: 'us-east-1' } }, /\.target: plain http to '127\.0\.0\.1\.nip\.io'/],
    ['plain http to an AWS endpoint even with the opt-in', { '/r': { target: 'http://sqs.eu-west-1.amazonaws.com', dangerouslyAllowHttp: true } }, /\.dangerouslyAllowHttp: 'sqs\.eu-west-1\.amazonaws\.com' is an AWS endpoint, which serves https/],
    ['plain http to a dual-stack AWS endpoint with the opt-in', { '/r': { target: 'http://s3.dualstack.eu-west-1.api.aws', service: 's3', region: 'eu-west-1', dangerouslyAllowHttp: true } }, /\.dangerouslyAllowHttp: .* is an AWS endpoint/],
    ['the http opt-in on an https target', { '/r': { target: 'https://s3.amazonaws.com', dangerouslyAllowHttp: true } }, /\.dangerouslyAllowHttp: is only for an http target that is not on loopback/],
    ['the http opt-in on loopback', { '/r': { target: 'http://127.0.0.1:9000', service: 's3', region: 'us-east-1', dangerouslyAllowHttp: true } }, /\.dangerouslyAllowHttp: is only for an http target/],
    ['a non-boolean http opt-in', { '/r': { target: 'http://localstack:4566', service: 's3', region: 'us-east-1', dangerouslyAllowHttp: 'yes' } }, /\.dangerouslyAllowHttp: must be true or false/],
    // allowedOperations: only where requests name their operation
    ['allowedOperations on S3', { '/r': { target: 'https://s3.amazonaws.com', allowedOperations: ['GetObject'] } }, /\.allowedOperations: 's3' requests say what they do by method and path/],
    ['allowedOperations on API Gateway', { '/r': { target: 'https://abc.execute-api.us-east-1.amazonaws.com', allowedOperations: ['*'] } }, /\.allowedOperations: 'execute-api' requests say what they do by method and path/],
    ['an empty operation list', { '/r': { target: 'https://sqs.eu-west-1.amazonaws.com', allowedOperations: [] } }, /\.allowedOperations: must list at least one operation/],
    ['an operation that is not a name', { '/r': { target: 'https://sqs.eu-west-1.amazonaws.com', allowedOperations: ['List Queues'] } }, /\.allowedOperations: 'List Queues' is not an operation name/],
    ['an operation pattern with an inner star', { '/r': { target: 'https://sqs.eu-west-1.amazonaws.com', allowedOperations: ['Get*Url'] } }, /\.allowedOperations: 'Get\*Url' is not an operation name/],
    ['an operation in lower case', { '/r': { target: 'https://sqs.eu-west-1.amazonaws.com', allowedOperations: ['listQueues'] } }, /\.allowedOperations: 'listQueues' is not an operation name/],
    ['operations that are not strings', { '/r': { target: 'https://sqs.eu-west-1.amazonaws.com', allowedOperations: 'ListQueues' } }, /\.allowedOperations: must be a list of strings/],
    ['operations with smithy-protocol forwarded', { '/r': { target: 'https://monitoring.eu-west-1.amazonaws.com', allowedOperations: ['Get*'], allowedHeaders: ['smithy-protocol'] } }, /\.allowedOperations: cannot be used with smithy-protocol/],
    ['duplicate routes', { '/a': 'https://s3.amazonaws.com', '/a/': 'https://s3.amazonaws.com' }, /proxysigv4\['\/a\/'\]: duplicates route '\/a'/],
    ['a non-boolean Segment switch', { allowUnauthenticatedRequests: 'yes' }, /allowUnauthenticatedRequests must be true or false/],
  ])('stops at start on %s, naming the route and field', (_what, config, message) => {
    expect(() => read(config)).toThrow(message);
  });
});

describe('sessionPerCaller', () => {
  const ROLE = 'arn:aws:iam::123456789012:role/team-data';
  const API = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod';

  it('reads true as SourceIdentity and session tags, with the default bounds', () => {
    expect(readRoute({ target: API, roleArn: ROLE, sessionPerCaller: true }).credentialSource).toMatchObject({
      kind: 'role',
      sessionPerCaller: {
        sourceIdentity: true,
        sessionTags: true,
        transitiveTags: false,
        maxCallers: 1000,
        maxGroupTags: 40,
      },
    });
  });

  it('reads each part of the object form; a part left out is on, false is off', () => {
    const source = readRoute({
      target: API,
      roleArn: ROLE,
      sessionPerCaller: { sessionTags: false, maxCallers: 5, maxGroupTags: 0 },
    }).credentialSource;
    expect(source).toMatchObject({
      sessionPerCaller: { sourceIdentity: true, sessionTags: false, transitiveTags: false, maxCallers: 5, maxGroupTags: 0 },
    });
    expect(readRoute({ target: API, roleArn: ROLE, sessionPerCaller: false }).credentialSource).not.toHaveProperty('sessionPerCaller');
    expect(readRoute({ target: API, roleArn: ROLE }).credentialSource).not.toHaveProperty('sessionPerCaller');
  });

  it('is accepted with a credentials endpoint and on user-cookie routes', () => {
    expect(
      readRoute({ target: API, credentialsEndpoint: { url: 'https://creds.internal' }, sessionPerCaller: true }).credentialSource,
    ).toMatchObject({ kind: 'endpoint', sessionPerCaller: { sourceIdentity: true } });
    expect(
      readRoute({ target: 'https://b.s3.eu-west-1.amazonaws.com', roleArn: ROLE, credentials: 'user-cookie', sessionPerCaller: true }),
    ).toMatchObject({ credentialsPolicy: 'user-cookie', credentialSource: { sessionPerCaller: { sessionTags: true } } });
  });

  it.each<[string, JsonObject, RegExp]>([
    ['without a role', { target: API, sessionPerCaller: true }, /\['\/r'\]\.sessionPerCaller: needs roleArn or credentialsEndpoint/],
    ['with an account but no role', { target: API, accountId: '123456789012', sessionPerCaller: true }, /sessionPerCaller: needs roleArn/],
    ['on an open route', { target: API, roleArn: ROLE, credentials: 'dangerously-allow-unauthenticated', sessionPerCaller: true }, /sessionPerCaller: needs callers with Backstage credentials[^]*credentials: dangerously-allow-unauthenticated/],
    ['with a fixed session name', { target: API, roleArn: ROLE, roleSessionName: 'fixed', sessionPerCaller: true }, /roleSessionName: is set by sessionPerCaller/],
    ['transitive tags without tags', { target: API, roleArn: ROLE, sessionPerCaller: { sessionTags: false, transitiveTags: true } }, /sessionPerCaller\.transitiveTags: needs sessionTags/],
    ['an unknown field', { target: API, roleArn: ROLE, sessionPerCaller: { sourceIdentities: true } }, /sessionPerCaller\.sourceIdentities: unknown field; known fields are sourceIdentity, sessionTags/],
    ['a word', { target: API, roleArn: ROLE, sessionPerCaller: 'yes' }, /sessionPerCaller: must be true, false, or an object/],
    ['a string flag', { target: API, roleArn: ROLE, sessionPerCaller: { sessionTags: 'true' } }, /sessionPerCaller\.sessionTags: must be true or false/],
    ['no callers', { target: API, roleArn: ROLE, sessionPerCaller: { maxCallers: 0 } }, /sessionPerCaller\.maxCallers: must be a whole number from 1 to 100000/],
    ['a fraction of a caller', { target: API, roleArn: ROLE, sessionPerCaller: { maxCallers: 1.5 } }, /maxCallers: must be a whole number/],
    ['more group tags than AWS allows', { target: API, roleArn: ROLE, sessionPerCaller: { maxGroupTags: 46 } }, /sessionPerCaller\.maxGroupTags: must be a whole number from 0 to 45/],
  ])('refuses %s', (_, route, message) => {
    expect(() => readRoute(route)).toThrow(message);
  });

  it('allows as many group tags as the tag encoder can send, and no more', () => {
    expect(FIELD_RANGES['sessionPerCaller.maxGroupTags']).toEqual([0, MAX_GROUP_TAGS_LIMIT]);
  });

  it('refuses it on a route the Segment switch opens, naming the switch', () => {
    expect(() =>
      read({ allowUnauthenticatedRequests: true, '/r': { target: API, roleArn: ROLE, sessionPerCaller: true } }),
    ).toThrow(/sessionPerCaller: needs callers with Backstage credentials[^]*proxysigv4\.allowUnauthenticatedRequests: true/);
    // A permission closes the route again, and then it is accepted.
    expect(
      read({ allowUnauthenticatedRequests: true, '/r': { target: API, roleArn: ROLE, permission: 'p.use', sessionPerCaller: true } }).routes[0].credentialsPolicy,
    ).toBe('require');
  });
});

describe('presign and maxUploadSize', () => {
  const BUCKET = 'https://reports.s3.eu-west-1.amazonaws.com';

  it('reads true as GET and HEAD for 300 s, an object as written, and leaves it off by default', () => {
    expect(readRoute({ target: BUCKET, presign: true }).presign).toEqual({ methods: new Set(['GET', 'HEAD']), maxExpiresIn: 300 });
    expect(readRoute({ target: BUCKET, presign: { methods: ['get', 'PUT'], maxExpiresIn: 604800 } }).presign).toEqual({
      methods: new Set(['GET', 'PUT']),
      maxExpiresIn: 604800,
    });
    expect(readRoute({ target: BUCKET }).presign).toBeUndefined();
    expect(readRoute({ target: BUCKET, presign: false }).presign).toBeUndefined();
    expect(readRoute({ target: BUCKET }).maxUploadSize).toBe(5 * 1024 ** 3);
    expect(readRoute({ target: BUCKET, maxBodySize: 1000, maxUploadSize: 1000 }).maxUploadSize).toBe(1000);
    // A maxBodySize set before streaming existed stays the cap of streamed uploads.
    expect(readRoute({ target: BUCKET, maxBodySize: 5000 }).maxUploadSize).toBe(5000);
    expect(readRoute({ target: BUCKET, maxBodySize: 5000, maxUploadSize: 10 ** 9 }).maxUploadSize).toBe(10 ** 9);
  });

  it.each<[string, JsonObject, RegExp]>([
    ['on API Gateway', { target: 'https://abc.execute-api.eu-west-1.amazonaws.com', presign: true }, /\['\/r'\]\.presign: presigned URLs are S3's; this route signs for 'execute-api'/],
    ['on S3 Object Lambda', { target: BUCKET, service: 's3-object-lambda', presign: true }, /presign: presigned URLs are S3's/],
    ['on an open route', { target: BUCKET, credentials: 'dangerously-allow-unauthenticated', presign: true }, /presign: needs callers with Backstage credentials/],
    ['for POST', { target: BUCKET, presign: { methods: ['POST'] } }, /presign\.methods: 'POST' cannot be presigned; choose from GET, HEAD, PUT, DELETE/],
    ['for a method the route refuses', { target: BUCKET, allowedMethods: ['GET'], presign: { methods: ['GET', 'PUT'] } }, /presign\.methods: 'PUT' is not in the route's allowedMethods/],
    ['an empty method list', { target: BUCKET, presign: { methods: [] } }, /presign\.methods: must be a list of some of/],
    ['more than 7 days', { target: BUCKET, presign: { maxExpiresIn: 604801 } }, /presign\.maxExpiresIn: must be a whole number of seconds from 1 to 604800/],
    ['no time at all', { target: BUCKET, presign: { maxExpiresIn: 0 } }, /presign\.maxExpiresIn: must be a whole number/],
    ['an unknown field', { target: BUCKET, presign: { expiresIn: 60 } }, /presign\.expiresIn: unknown field; known fields are methods, maxExpiresIn/],
    ['a word', { target: BUCKET, presign: 'yes' }, /presign: must be true, false, or an object/],
    ['maxUploadSize off S3', { target: 'https://abc.execute-api.eu-west-1.amazonaws.com', maxUploadSize: 10 }, /maxUploadSize: limits S3's chunk-signed uploads/],
    ['a negative maxUploadSize', { target: BUCKET, maxUploadSize: -1 }, /maxUploadSize: must be a whole number from 0 to/],
    ['a maxUploadSize above one PUT', { target: BUCKET, maxUploadSize: 5 * 1024 ** 3 + 1 }, /maxUploadSize: must be a whole number from 0 to 5368709120/],
    ['a maxUploadSize below maxBodySize', { target: BUCKET, maxUploadSize: 1000 }, /maxUploadSize: \(1000\) is below maxBodySize \(10485760\)/],
    ['a maxUploadSize with unsignedPayload', { target: BUCKET, unsignedPayload: true, maxUploadSize: 10 ** 9 }, /maxUploadSize: limits chunk-signed uploads, and with unsignedPayload nothing is/],
  ])('refuses %s', (_, route, message) => {
    expect(() => readRoute(route)).toThrow(message);
  });

  it('reserves /_presign as it does /_routes', () => {
    expect(() => read({ '/_presign': BUCKET })).toThrow(/\/_presign is reserved for the plugin's presigned URLs/);
    expect(() => read({ '/_presign/x': BUCKET })).toThrow(/reserved/);
    expect(read({ '/_presigned': BUCKET }).routes[0].route).toBe('/_presigned');
  });
});

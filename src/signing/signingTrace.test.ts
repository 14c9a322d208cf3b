/*
 * `debug: true`: what the route logs must be the canonical request and string to sign of
 * what arrived upstream, as a second implementation (aws4, in the verifying upstream)
 * computes them from the bytes it received; and it must never contain a secret.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import {
  AcceptedCredentials,
  awsErrorHandler,
  LocalSts,
  ReceivedRequest,
  startLocalSts,
  startVerifyingUpstream,
  VerifyingUpstream,
  verifySignature,
} from '../../localAws';
import { capturingLogger, CapturingLogger, LogEntry } from '../__testUtils__/capturingLogger';
import {
  RunningProxy,
  startProxy,
  TEST_CREDENTIALS,
  USER,
} from '../__testUtils__/startProxy';
import { SECRET_HEADERS, SESSION_TOKEN_PLACEHOLDER } from './signingTrace';
import { RouteSigner } from './signRequest';

const P = '/api/proxy-sigv4';
/** An S3 SSE-C key, as a caller sends it: a secret that is signed like any x-amz-* header. */
const SSE_C_KEY = 'c2VjcmV0LXNzZS1jLWtleS0zMi1ieXRlcy1sb25nISE=';
const ROLE = 'arn:aws:iam::210987654321:role/debugging';
const EXTERNAL_ID = 'ext-debug-secret-external-id';

let accepted: AcceptedCredentials;
let upstream: VerifyingUpstream;
let sts: LocalSts;
let logs: CapturingLogger;
let proxy: RunningProxy;
/** Sits between the proxy and the upstream on the `/tampered` route, changing one header. */
let tamperer: http.Server;

beforeAll(async () => {
  accepted = { [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS };
  upstream = await startVerifyingUpstream(accepted);
  upstream.handler = awsErrorHandler;
  sts = await startLocalSts({
    sources: {
      [TEST_CREDENTIALS.accessKeyId]: {
        ...TEST_CREDENTIALS,
        arn: 'arn:aws:iam::111111111111:user/backstage',
      },
    },
    accepted,
  });
  tamperer = http.createServer((req, res) => {
    const headers = { ...req.headers, 'x-team': 'changed-on-the-way' };
    const out = http.request(
      { host: '127.0.0.1', port: upstream.port, method: req.method, path: req.url, headers },
      upRes => {
        res.writeHead(upRes.statusCode!, upRes.headers);
        upRes.pipe(res);
      },
    );
    req.pipe(out);
  });
  await new Promise<void>(resolve => tamperer.listen(0, '127.0.0.1', resolve));
  const tampererPort = (tamperer.address() as AddressInfo).port;

  logs = capturingLogger();
  proxy = await startProxy(
    {
      '/api': {
        target: `${upstream.url}/prod`,
        service: 'execute-api',
        region: 'eu-west-1',
        roleArn: ROLE,
        externalId: EXTERNAL_ID,
        stsEndpoint: sts.url,
        debug: true,
      },
      '/bucket': {
        target: `${upstream.url}/files`,
        service: 's3',
        region: 'us-east-1',
        debug: true,
      },
      '/tampered': {
        target: `http://127.0.0.1:${tampererPort}`,
        service: 'execute-api',
        region: 'eu-west-1',
        allowedHeaders: ['x-team'],
        debug: true,
      },
      '/quiet': {
        target: `${upstream.url}/prod`,
        service: 'execute-api',
        region: 'eu-west-1',
      },
    },
    {},
    { logger: logs.factory },
  );
});

afterAll(async () => {
  await proxy.stop();
  await upstream.close();
  await sts.close();
  tamperer.closeAllConnections();
  await new Promise(resolve => tamperer.close(resolve));
});

interface Logged {
  headline: string;
  canonicalRequest: string;
  stringToSign: string;
}

/** The debug entries logged since `from`, split into their parts. */
function debugEntries(from: number): Logged[] {
  return logs.entries
    .slice(from)
    .filter(e => / signed [A-Z]+ .* \(debug\)\n/.test(e.message))
    .map(e => {
      const m = /^(.*)\nCanonical request:\n([\s\S]*)\nString to sign:\n([\s\S]*)$/.exec(e.message);
      if (!m) throw new Error(`a debug entry of an unexpected shape: ${e.message}`);
      expect(e.level).toBe('info');
      return { headline: m[1], canonicalRequest: m[2], stringToSign: m[3] };
    });
}

/** aws4's canonical request with the session token's value replaced, as the log shows it. */
function aws4Logged(received: ReceivedRequest): string {
  expect(received.aws4).toBeDefined();
  return received.aws4!.canonicalRequest.replace(
    /^x-amz-security-token:.*$/m,
    `x-amz-security-token:${SESSION_TOKEN_PLACEHOLDER}`,
  );
}

const lastReceived = () => upstream.received[upstream.received.length - 1];

describe('debug: true logs what aws4 computes from what arrived', () => {
  it('for a GET with an encoded path and a query, through an assumed role', async () => {
    const from = logs.entries.length;
    const res = await proxy
      .http()
      .get(`${P}/api/items/a%20b/caf%C3%A9:1?b=2&a=1&a=0&plus=x+y&empty=`)
      .set('Authorization', USER);
    expect(res.status).toBe(200);
    const received = lastReceived();
    expect(received.signatureError).toBeUndefined();

    const [logged, ...more] = debugEntries(from);
    expect(more).toEqual([]);
    expect(logged.canonicalRequest).toBe(aws4Logged(received));
    expect(logged.stringToSign).toBe(received.aws4!.stringToSign);
    // The token was signed, and its line is in the log without its value.
    expect(logged.canonicalRequest).toContain(`\nx-amz-security-token:${SESSION_TOKEN_PLACEHOLDER}\n`);
    const issued = sts.issued[sts.issued.length - 1];
    expect(logged.headline).toBe(
      `proxysigv4 route /api: signed GET ${received.url} with access key ${issued.accessKeyId} (debug)`,
    );
  });

  it('for a POST with a JSON body, whose payload hash is the last canonical line', async () => {
    const from = logs.entries.length;
    const body = '{\n  "query": { "match_all": {} }\n}';
    const res = await proxy
      .http()
      .post(`${P}/api/search`)
      .set('Authorization', USER)
      .set('content-type', 'application/json')
      .send(body);
    expect(res.status).toBe(200);
    const received = lastReceived();
    expect(received.body.toString()).toBe(body);
    const [logged] = debugEntries(from);
    expect(logged.canonicalRequest).toBe(aws4Logged(received));
    expect(logged.stringToSign).toBe(received.aws4!.stringToSign);
    expect(logged.canonicalRequest.split('\n').pop()).toBe(
      require('node:crypto').createHash('sha256').update(body).digest('hex'),
    );
  });

  it('for an S3 key that is signed as sent (no double encoding)', async () => {
    const from = logs.entries.length;
    const res = await proxy
      .http()
      .get(`${P}/bucket/a//b/(c)!*'%2B.txt`)
      .set('Authorization', USER);
    expect(res.status).toBe(200);
    const received = lastReceived();
    expect(received.signatureError).toBeUndefined();
    const [logged] = debugEntries(from);
    expect(logged.canonicalRequest).toBe(received.aws4!.canonicalRequest);
    expect(logged.canonicalRequest.split('\n')[1]).toBe(received.url);
    expect(logged.headline).toContain(`with access key ${TEST_CREDENTIALS.accessKeyId} (debug)`);
  });

  it('for an S3 PUT with an SSE-C key: signed and sent, its value replaced in the log', async () => {
    const from = logs.entries.length;
    const res = await proxy
      .http()
      .put(`${P}/bucket/secret.bin`)
      .set('Authorization', USER)
      .set('x-amz-server-side-encryption-customer-algorithm', 'AES256')
      .set('x-amz-server-side-encryption-customer-key', SSE_C_KEY)
      .set('x-amz-server-side-encryption-customer-key-md5', 'bWQ1LW9mLXRoZS1rZXk=')
      .send('payload');
    expect(res.status).toBe(200);
    const received = lastReceived();
    expect(received.signatureError).toBeUndefined();
    expect(received.headers['x-amz-server-side-encryption-customer-key']).toBe(SSE_C_KEY);
    expect(received.signedHeaders).toContain('x-amz-server-side-encryption-customer-key');
    const [logged] = debugEntries(from);
    const expected = received.aws4!.canonicalRequest.replace(
      /^x-amz-server-side-encryption-customer-key:.*$/m,
      `x-amz-server-side-encryption-customer-key:${SECRET_HEADERS['x-amz-server-side-encryption-customer-key']}`,
    );
    expect(expected).not.toBe(received.aws4!.canonicalRequest);
    expect(logged.canonicalRequest).toBe(expected);
    expect(logged.canonicalRequest).toContain('\nx-amz-server-side-encryption-customer-key-md5:bWQ1LW9mLXRoZS1rZXk=\n');
    expect(logged.stringToSign).toBe(received.aws4!.stringToSign);
  });

  it('shows where a request was changed after signing: the only differing line', async () => {
    const from = logs.entries.length;
    const res = await proxy
      .http()
      .get(`${P}/tampered/x`)
      .set('Authorization', USER)
      .set('x-team', 'platform');
    expect(res.status).toBe(403);
    expect(res.text).toContain('<Code>SignatureDoesNotMatch</Code>');
    const received = lastReceived();
    const [logged] = debugEntries(from);
    const ours = logged.canonicalRequest.split('\n');
    const theirs = received.aws4!.canonicalRequest.split('\n');
    expect(ours).toHaveLength(theirs.length);
    const differing = ours.flatMap((line, i) => (line === theirs[i] ? [] : [[line, theirs[i]]]));
    expect(differing).toEqual([['x-team:platform', 'x-team:changed-on-the-way']]);
  });
});

describe('what debug never does', () => {
  it('logs nothing of the kind for a route without it', async () => {
    const from = logs.entries.length;
    const res = await proxy.http().get(`${P}/quiet/x?a=1`).set('Authorization', USER);
    expect(res.status).toBe(200);
    const texts = logs.entries.slice(from).map(e => e.message);
    expect(texts.filter(t => /Canonical request|String to sign|\(debug\)/.test(t))).toEqual([]);
  });

  it('never logs a secret key, a session token or the external id, at any level', async () => {
    // Run requests on every route first, so that there is something to look through.
    await proxy.http().get(`${P}/api/x`).set('Authorization', USER);
    await proxy.http().get(`${P}/bucket/x`).set('Authorization', USER);
    expect(sts.issued.length).toBeGreaterThan(0);
    const secrets = [
      TEST_CREDENTIALS.secretAccessKey,
      EXTERNAL_ID,
      SSE_C_KEY,
      ...sts.issued.flatMap(c => [c.sessionToken, accepted[c.accessKeyId].secretAccessKey]),
    ];
    const everything = (e: LogEntry) =>
      `${e.message} ${JSON.stringify(e.fields)} ${e.error?.message ?? ''} ${e.error?.stack ?? ''}`;
    const all = logs.entries.map(everything).join('\n');
    expect(debugEntries(0).length).toBeGreaterThanOrEqual(5);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(8);
      expect(all).not.toContain(secret);
    }
  });

  it('never fails the request it describes: a throwing listener leaves a valid signature', async () => {
    const signer = new RouteSigner(
      { service: 'execute-api', region: 'eu-west-1', s3: false },
      async () => TEST_CREDENTIALS,
    );
    let called = 0;
    const headers = await signer.sign(
      {
        method: 'GET',
        protocol: 'https:',
        hostname: 'abc.execute-api.eu-west-1.amazonaws.com',
        path: '/prod/items',
        query: { a: '1' },
        headers: { host: 'abc.execute-api.eu-west-1.amazonaws.com' },
      },
      () => {
        called++;
        throw new Error('the log is full');
      },
    );
    expect(called).toBe(1);
    const check = verifySignature(
      { method: 'GET', url: '/prod/items?a=1', headers },
      Buffer.alloc(0),
      { [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS },
    );
    expect(check.error).toBeUndefined();
    expect(check.service).toBe('execute-api');
  });

  it('warns at start, naming each route that has it on', () => {
    const warnings = logs.entries
      .filter(e => e.level === 'warn' && e.message.includes('has debug on'))
      .map(e => e.message.split(' ')[2]);
    expect(warnings.sort()).toEqual(['/api', '/bucket', '/tampered']);
  });
});

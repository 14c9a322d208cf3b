/*
 * The proxy the generated tests attack: a real Backstage test backend with routes of every
 * kind (a plain API, S3 buffered and streamed, an assumed role from a local STS with an
 * external id and debug logging, a credentials endpoint with an API key), all pointing at
 * one upstream that checks signatures with aws4; a second upstream for a bystander route
 * and a third, configured nowhere, that must never see a connection. Every log line is
 * kept, and every secret the routes hold can be listed, to be looked for in answers and logs.
 */
import http from 'node:http';
import crypto from 'node:crypto';
import { AddressInfo } from 'node:net';
import { JsonObject } from '@backstage/types';
import { RunningProxy, startProxy, TEST_CREDENTIALS, USER } from './startProxy';
import { startWatchedUpstream, WatchedUpstream } from './watchedUpstream';
import { AcceptedCredentials, LocalSts, startLocalSts } from '../../localAws';
import { capturingLogger, CapturingLogger, LogEntry } from './capturingLogger';
import { connectRaw, ParsedResponse, parseResponses } from './rawSocket';
import { rfc3986 } from '../endpoint/canonical';

export const MOUNT = '/api/proxy-sigv4';
export const EXTERNAL_ID = 'gen-external-id-5f0c2d9e';
export const ENDPOINT_API_KEY = 'gen-endpoint-api-key-9b7a41c3';
export const ROLE = 'arn:aws:iam::210987654321:role/generated';

export interface RouteInfo {
  /** The base path every upstream request must stay under. */
  base: string;
  s3: boolean;
  /** The body is streamed (unsigned payload), not buffered. */
  streamed: boolean;
  /** Credentials come with a session token. */
  temporary: boolean;
}

/** The routes every rig has, by key. */
export const ROUTES = {
  '/api': { base: '/base/', s3: false, streamed: false, temporary: false },
  '/s3': { base: '/bucket', s3: true, streamed: false, temporary: false },
  '/s3stream': { base: '/stream-bucket', s3: true, streamed: true, temporary: false },
  '/role': { base: '/role-base', s3: false, streamed: false, temporary: true },
  '/roles3': { base: '/role-bucket', s3: true, streamed: false, temporary: true },
  '/partner': { base: '/partner/', s3: false, streamed: false, temporary: true },
} satisfies Record<string, RouteInfo>;
export type RouteKey = keyof typeof ROUTES;
export const ROUTE_KEYS = Object.keys(ROUTES) as RouteKey[];

export interface GeneratedRig {
  proxy: RunningProxy;
  /** The proxy's `host:port`. */
  self: string;
  port: number;
  main: WatchedUpstream;
  other: WatchedUpstream;
  evil: WatchedUpstream;
  sts: LocalSts;
  logs: CapturingLogger;
  /** Credentials the upstreams accept (the main account's, and every one issued since). */
  accepted: AcceptedCredentials;
  /** Every secret a route holds, in the spellings an echo could use. */
  secrets(): string[];
  /** Forgets what the upstreams received and what was logged; the answer handler goes back to the echo. */
  reset(): void;
  stop(): Promise<void>;
}

/** A credentials endpoint that hands out fresh temporary credentials to callers with the API key. */
async function startCredentialsEndpoint(accepted: AcceptedCredentials) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.headers['x-api-key'] !== ENDPOINT_API_KEY) {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end('{"message":"bad key"}');
        return;
      }
      const accessKeyId = `ASIAGEN${crypto.randomBytes(6).toString('hex').toUpperCase()}`;
      const secretAccessKey = crypto.randomBytes(20).toString('base64');
      const sessionToken = crypto.randomBytes(40).toString('base64');
      const expiresAt = Date.now() + 3600_000;
      accepted[accessKeyId] = { secretAccessKey, sessionToken, expiresAt };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ accessKeyId, secretAccessKey, sessionToken, expiresAt: new Date(expiresAt).toISOString() }));
    });
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/credentials`,
    close: () =>
      new Promise<void>(r => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Spellings of a secret an upstream echo or a log could carry. */
function spellings(secret: string): string[] {
  return [...new Set([secret, encodeURIComponent(secret), rfc3986(secret), encodeURIComponent(secret).toLowerCase(), JSON.stringify(secret).slice(1, -1)])];
}

export async function startGeneratedRig(
  options: { extraRoutes?: (rig: { main: WatchedUpstream }) => JsonObject; timeout?: number } = {},
): Promise<GeneratedRig> {
  const accepted: AcceptedCredentials = {
    [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS,
  };
  const [main, other, evil] = await Promise.all([
    startWatchedUpstream(accepted),
    startWatchedUpstream(accepted),
    startWatchedUpstream(accepted),
  ]);
  const sts = await startLocalSts({
    sources: {
      [TEST_CREDENTIALS.accessKeyId]: { ...TEST_CREDENTIALS, arn: 'arn:aws:iam::111111111111:user/backstage' },
    },
    accepted,
  });
  const endpoint = await startCredentialsEndpoint(accepted);
  const logs = capturingLogger();
  const timeout = options.timeout ?? 5000;
  const api = { service: 'execute-api', region: 'eu-west-1', timeout };
  const s3 = { service: 's3', region: 'us-east-1', timeout };
  const role = { roleArn: ROLE, externalId: EXTERNAL_ID, stsRegion: 'us-east-1', stsEndpoint: sts.url };
  const proxy = await startProxy(
    {
      '/api': { target: `${main.url}/base/`, ...api },
      '/s3': { target: `${main.url}/bucket`, ...s3 },
      '/s3stream': { target: `${main.url}/stream-bucket`, ...s3, unsignedPayload: true },
      '/role': { target: `${main.url}/role-base`, ...api, ...role, debug: true },
      '/roles3': { target: `${main.url}/role-bucket`, ...s3, ...role },
      '/partner': {
        target: `${main.url}/partner/`,
        ...api,
        roleArn: ROLE,
        externalId: EXTERNAL_ID,
        credentialsEndpoint: { url: endpoint.url, headers: { 'x-api-key': ENDPOINT_API_KEY } },
      },
      '/other': { target: `${other.url}/elsewhere`, ...api },
      ...options.extraRoutes?.({ main }),
    },
    {},
    { logger: logs.factory },
  );
  const port = Number(new URL(proxy.baseUrl).port);
  const handler = main.handler;
  return {
    proxy,
    self: `127.0.0.1:${port}`,
    port,
    main,
    other,
    evil,
    sts,
    logs,
    accepted,
    secrets() {
      const all = [TEST_CREDENTIALS.secretAccessKey, EXTERNAL_ID, ENDPOINT_API_KEY];
      for (const c of Object.values(accepted)) {
        all.push(c.secretAccessKey);
        if (c.sessionToken) all.push(c.sessionToken);
      }
      return [...new Set(all)].flatMap(spellings);
    },
    reset() {
      for (const u of [main, other, evil]) u.reset();
      main.handler = handler;
      logs.entries.length = 0;
    },
    async stop() {
      await proxy.stop();
      await Promise.all([main.close(), other.close(), evil.close(), sts.close(), endpoint.close()]);
    },
  };
}

/** The final answer to one request written byte for byte, or why there was none. */
export interface Exchange {
  /** The final (non-1xx) response, if one arrived. */
  response?: ParsedResponse;
  /** Everything received, as latin1. */
  raw: string;
  /** True when the connection was still open after the wait (no answer, or one that never ended). */
  hung: boolean;
}

/**
 * Writes a request (which asks for `Connection: close`) and waits for the server to close
 * the connection, or `waitMs`; then reads the final answer (1xx answers are skipped).
 */
export async function exchange(port: number, bytes: Buffer, waitMs = 15_000): Promise<Exchange> {
  const conn = await connectRaw(port);
  void conn.write(bytes);
  let timer: NodeJS.Timeout | undefined;
  const hung = await Promise.race([
    conn.closed.then(() => false),
    new Promise<boolean>(resolve => {
      timer = setTimeout(() => resolve(true), waitMs);
    }),
  ]);
  clearTimeout(timer);
  conn.destroy();
  const raw = conn.received().toString('latin1');
  // Interim answers (100 Continue) have no body and no length: parse from the final one.
  const final = raw.replace(/^(?:HTTP\/1\.1 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '');
  const response = parseResponses(Buffer.from(final, 'latin1'))[0];
  return { response, raw: final, hung };
}

/** Every log line as text: message, fields and error. */
export function logText(entry: LogEntry): string {
  return [entry.message, JSON.stringify(entry.fields), entry.error?.message, entry.error?.stack].join(' ');
}

export { USER };

import http from 'node:http';
import { AddressInfo } from 'node:net';
import { RunningProxy, startProxy, USER } from '../__testUtils__/startProxy';

const P = '/api/proxy-sigv4';
let proxy: RunningProxy | undefined;
let helper: http.Server;
let upstreamSrv: http.Server;
let tokens: string[];
let upstreamHits = 0;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);

beforeEach(async () => {
  process.on('unhandledRejection', onUnhandled);
  let n = 0;
  helper = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const token = tokens[Math.min(n, tokens.length - 1)];
      n++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ accessKeyId: `ASIA${n}`, secretAccessKey: 'secret', sessionToken: token, expiresAt: Math.floor(Date.now() / 1000) + 3600 }));
    });
  });
  upstreamSrv = http.createServer((req, res) => {
    req.resume();
    upstreamHits++;
    res.writeHead(403, { 'content-type': 'application/xml' });
    res.end('<Error><Code>ExpiredToken</Code><Message>expired</Message></Error>');
  });
  await new Promise<void>(r => helper.listen(0, '127.0.0.1', r));
  await new Promise<void>(r => upstreamSrv.listen(0, '127.0.0.1', r));
});
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
  helper.closeAllConnections(); upstreamSrv.closeAllConnections();
  await new Promise(r => helper.close(r));
  await new Promise(r => upstreamSrv.close(r));
  process.off('unhandledRejection', onUnhandled);
});

const route = () => ({
  target: `http://127.0.0.1:${(upstreamSrv.address() as AddressInfo).port}/`,
  service: 'execute-api', region: 'eu-west-1', timeout: 500,
  credentialsEndpoint: { url: `http://127.0.0.1:${(helper.address() as AddressInfo).port}/creds` },
});

it('answers 503 for a malformed session token from the endpoint on first use', async () => {
  tokens = ['bad\ntoken'];
  proxy = await startProxy({ '/api': route() });
  const res = await proxy.http().get(`${P}/api/x`).set('authorization', USER);
  expect(res.status).toBe(503);
});

it('answers 503, instead of hanging, for a malformed session token on the retry after rejected credentials', async () => {
  tokens = ['good-token', 'bad\ntoken'];
  proxy = await startProxy({ '/api': route() });
  const res = await proxy.http().get(`${P}/api/x`).set('authorization', USER).timeout(3000).catch(e => e);
  expect(res.status).toBe(503);
});

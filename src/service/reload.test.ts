/*
 * Reload: the `proxysigv4` section changed while a real test backend runs (its root config is
 * a live one that the test updates, as an app-config edit reaches a real backend through
 * `config.subscribe`), against real upstreams on loopback that verify every signature and
 * say which of them answered, and a local STS.
 */
import http from 'node:http';
import { Socket } from 'node:net';
import { mockServices } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { JsonObject } from '@backstage/types';
import {
  AcceptedCredentials,
  LocalSts,
  startLocalSts,
  startVerifyingUpstream,
  UpstreamHandler,
  VerifyingUpstream,
} from '../../localAws';
import {
  LiveConfig,
  proxyConfigData,
  RunningProxy,
  startProxy,
  TEST_CREDENTIALS,
  USER,
} from '../__testUtils__/startProxy';
import { capturingLogger, LogEntry } from '../__testUtils__/capturingLogger';
import { readProxyConfig } from '../config/readRoutes';

const P = '/api/proxy-sigv4';
const RELOADED = 'proxysigv4: routes reloaded: ';
const INVALID =
  'proxysigv4: the new proxysigv4 configuration is invalid; the routes stay as they were: ';
const MAIN_ARN = 'arn:aws:iam::111111111111:user/backstage';
const api = { service: 'execute-api', region: 'eu-west-1' };

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

let logs: ReturnType<typeof capturingLogger>;
let live: LiveConfig;
let proxy: RunningProxy | undefined;
let cleanups: (() => Promise<void>)[];
/** The caller's pooled connections to the backend. */
let agent: http.Agent;

/** Answers with which upstream this is and the path that arrived (403 on a bad signature). */
const named =
  (name: string): UpstreamHandler =>
  (_req, res, received) => {
    res.writeHead(received.signatureError ? 403 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ upstream: name, url: received.url, signatureError: received.signatureError }));
  };

/** An upstream that names itself in its answers and keeps every connection it accepted. */
async function namedUpstream(name: string, accepted?: AcceptedCredentials) {
  const upstream = await startVerifyingUpstream(
    accepted ?? { [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS },
  );
  upstream.handler = named(name);
  // Idle connections are closed by the plugin's agent (after 4 s), never by the upstream.
  upstream.server.keepAliveTimeout = 60_000;
  const sockets: Socket[] = [];
  upstream.server.on('connection', socket => sockets.push(socket));
  cleanups.push(() => upstream.close());
  return Object.assign(upstream, {
    /** Connections the upstream accepted that are still open. */
    open: () => sockets.filter(s => !s.destroyed),
  });
}

beforeEach(() => {
  logs = capturingLogger();
  live = mockServices.rootConfig();
  cleanups = [];
  agent = new http.Agent({ keepAlive: true });
});

afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
  agent.destroy();
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function start(routes: JsonObject, features: unknown[] = []) {
  proxy = await startProxy(routes, {}, {
    logger: logs.factory,
    rootConfig: live,
    features: features as any[],
  });
  return proxy;
}

/** Changes the running backend's configuration, as an edit of app-config would. */
function reconfigure(routes: JsonObject, extraConfig: JsonObject = {}) {
  live.update({ data: proxyConfigData(routes, extraConfig) });
}

/** The entries logged from `from` on (an index into the log) that come from a reload. */
function reloadLines(from = 0): LogEntry[] {
  return logs.entries
    .slice(from)
    .filter(e => e.message.startsWith(RELOADED) || e.message.startsWith(INVALID));
}

/** Waits (up to 5 s) until a reload line is logged from `from` on; returns it. */
async function nextReloadLine(from: number): Promise<LogEntry> {
  const deadline = Date.now() + 5000;
  while (reloadLines(from).length === 0) {
    if (Date.now() > deadline) {
      throw new Error(`no reload was logged; the log since: ${JSON.stringify(logs.entries.slice(from).map(e => e.message))}`);
    }
    await sleep(5);
  }
  return reloadLines(from)[0];
}

/** The plugin's own lines (not the auditor's records) logged from `from` on. */
const pluginLines = (from: number) =>
  logs.entries.slice(from).filter(e => /proxysigv4/.test(e.message)).map(e => `${e.level} ${e.message}`);

/**
 * The process's handles by kind (timers, sockets, servers), once what earlier tests are still
 * closing has had time to finish; besides the test's own, the test runner's.
 */
async function handles(): Promise<Record<string, number>> {
  await sleep(200);
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/**
 * The kinds of handle of which there are more now than `before` (with how many now), and have
 * stayed more for 3 s. The count is process-wide: a test runner's own short timers (jest's
 * reporter, when it runs one file in band) or a server's last write come and go, while what
 * the plugin leaked (a refresh timer, a pooled socket, an STS client) stays.
 */
async function handlesLeftSince(before: Record<string, number>): Promise<Record<string, number>> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const now = await handles();
    const more = Object.fromEntries(Object.entries(now).filter(([kind, n]) => n > (before[kind] ?? 0)));
    if (Object.keys(more).length === 0 || Date.now() > deadline) return more;
  }
}

interface Answer {
  status: number;
  body: string;
}

/** One GET through the backend, on the caller's pooled connections; `null`: anonymous. */
function get(path: string, authorization: string | null = USER): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${proxy!.baseUrl}${P}${path}`,
      { agent, headers: authorization === null ? {} : { authorization } },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

/**
 * What an answer says about the table that served it: `404`, `401`, `403`, or for a 200 the
 * upstream that answered and the first segment of the path it received (`200 one /keep`).
 */
function outcome(answer: Answer): string {
  if (answer.status !== 200) return String(answer.status);
  const body = JSON.parse(answer.body);
  return `200 ${body.upstream} /${body.url.split('/')[1]}`;
}

interface Sample {
  path: string;
  /** Logical clock when the request was sent and when its answer had arrived. */
  sent: number;
  done: number;
  outcome: string;
}

/**
 * Applies `change` while one request loop per path runs, from `ms` before the change until `ms`
 * after the swap, and checks every answer against the old and the new table:
 * - every answer is what the old table or the new table answers for its path;
 * - an answer complete before the change was made is the old table's;
 * - a request sent after the swap was logged is answered by the new table;
 * - no flapping: a request sent after another request's answer came from the new table is
 *   answered by the new table too;
 * - both tables answered each path at least once.
 * Returns the reload line.
 */
async function underLoad(
  expected: Record<string, { before: string; after: string }>,
  change: () => void,
  ms = 400,
): Promise<LogEntry> {
  let clock = 0;
  let running = true;
  const samples: Sample[] = [];
  const loops = Object.keys(expected).map(async path => {
    while (running) {
      const sent = ++clock;
      let result: string;
      try {
        result = outcome(await get(path));
      } catch (error) {
        result = `failed: ${error}`;
      }
      samples.push({ path, sent, done: ++clock, outcome: result });
    }
  });
  await sleep(ms);
  const from = logs.entries.length;
  const changedAt = ++clock;
  change();
  const line = await nextReloadLine(from);
  const swappedAt = ++clock;
  await sleep(ms);
  running = false;
  await Promise.all(loops);

  for (const [path, { before, after }] of Object.entries(expected)) {
    const mine = samples.filter(s => s.path === path);
    const wrong = mine.filter(s => s.outcome !== before && s.outcome !== after);
    expect({ path, wrong }).toEqual({ path, wrong: [] });
    const lateOld = mine.filter(s => s.done < changedAt && s.outcome !== before);
    expect({ path, lateOld }).toEqual({ path, lateOld: [] });
    const earlyNew = mine.filter(s => s.sent > swappedAt && s.outcome !== after);
    expect({ path, earlyNew }).toEqual({ path, earlyNew: [] });
    if (before !== after) {
      const firstNew = Math.min(...mine.filter(s => s.outcome === after).map(s => s.done));
      const flapped = mine.filter(s => s.sent > firstNew && s.outcome === before);
      expect({ path, flapped }).toEqual({ path, flapped: [] });
    }
    expect(mine.filter(s => s.done < changedAt).length).toBeGreaterThan(0);
    expect(mine.filter(s => s.sent > swappedAt).length).toBeGreaterThan(0);
  }
  return line;
}

describe('under steady load', () => {
  it('swaps changed, added and removed routes at once, with zero failed requests, and again on the next change', async () => {
    const one = await namedUpstream('one');
    const two = await namedUpstream('two');
    const first = {
      '/keep': { target: `${one.url}/keep`, ...api },
      '/move': { target: `${one.url}/move`, ...api },
      '/gone': { target: `${one.url}/gone`, ...api },
    };
    await start(first);
    const second = {
      '/keep': first['/keep'],
      '/move': { target: `${two.url}/moved`, ...api },
      '/new': { target: `${two.url}/new`, ...api },
    };
    const line = await underLoad(
      {
        '/keep': { before: '200 one /keep', after: '200 one /keep' },
        '/move': { before: '200 one /move', after: '200 two /moved' },
        '/gone': { before: '200 one /gone', after: '404' },
        '/new': { before: '404', after: '200 two /new' },
      },
      () => reconfigure(second),
    );
    expect(line.level).toBe('info');
    expect(line.message).toBe(`${RELOADED}added /new; removed /gone; changed /move`);
    expect([...one.received, ...two.received].map(r => r.signatureError)).not.toContainEqual(
      expect.any(String),
    );

    // Once more: it repeats, and a route can come back.
    const third = {
      '/keep': first['/keep'],
      '/move': { target: `${one.url}/back`, ...api },
      '/gone': { target: `${two.url}/again`, ...api },
    };
    const again = await underLoad(
      {
        '/keep': { before: '200 one /keep', after: '200 one /keep' },
        '/move': { before: '200 two /moved', after: '200 one /back' },
        '/gone': { before: '404', after: '200 two /again' },
        '/new': { before: '200 two /new', after: '404' },
      },
      () => reconfigure(third),
    );
    expect(again.message).toBe(`${RELOADED}added /gone; removed /new; changed /move`);
    expect(reloadLines()).toHaveLength(2);
  }, 30_000);

  it('names the root route / and lists several routes of a kind', async () => {
    const one = await namedUpstream('one');
    await start({ '/': { target: `${one.url}/root`, ...api }, '/b': { target: `${one.url}/b`, ...api } });
    const from = logs.entries.length;
    reconfigure({
      '/': { target: `${one.url}/root2`, ...api },
      '/c': { target: `${one.url}/c`, ...api },
      '/d': { target: `${one.url}/d`, ...api },
    });
    expect((await nextReloadLine(from)).message).toBe(`${RELOADED}added /c, /d; removed /b; changed /`);
    expect(outcome(await get('/x'))).toBe('200 one /root2');
    // Not /b any more: the root route answers it.
    expect(outcome(await get('/b'))).toBe('200 one /root2');
  }, 30_000);
});

describe('an invalid change', () => {
  it('keeps the old table serving, is logged once naming route and field, and a valid change after it applies', async () => {
    const one = await namedUpstream('one');
    const valid = { '/a': { target: `${one.url}/a`, ...api } };
    await start(valid);

    const badRegion = { ...valid, '/x': { target: `${one.url}/x`, service: 'execute-api', region: 'nowhere' } };
    let from = logs.entries.length;
    reconfigure(badRegion);
    const line = await nextReloadLine(from);
    expect(line.level).toBe('error');
    expect(line.message).toBe(
      `${INVALID}proxysigv4['/x'].region: 'nowhere' is not a valid AWS region`,
    );
    expect(outcome(await get('/a/1'))).toBe('200 one /a');
    expect((await get('/x/1')).status).toBe(404);

    // The same invalid section again (with a change elsewhere, so that subscribers are called).
    reconfigure(badRegion, { app: { title: 'again' } });
    await sleep(200);
    expect(reloadLines(from)).toHaveLength(1);
    expect(outcome(await get('/a/2'))).toBe('200 one /a');

    // A different invalid change: an unknown field.
    const unknownField = { '/a': { ...valid['/a'], colour: 'blue' }, '/y': { target: `${one.url}/y`, ...api } };
    from = logs.entries.length;
    reconfigure(unknownField);
    const unknown = await nextReloadLine(from);
    expect(unknown.level).toBe('error');
    expect(unknown.message).toContain(`${INVALID}proxysigv4['/a'].colour: unknown field`);
    // The reader's own message, whole.
    expect(() => readProxyConfig(new ConfigReader(proxyConfigData(unknownField)))).toThrow(
      unknown.message.slice(INVALID.length),
    );
    reconfigure(unknownField, { app: { title: 'and again' } });
    await sleep(200);
    expect(reloadLines(from)).toHaveLength(1);
    expect(outcome(await get('/a/3'))).toBe('200 one /a');
    expect((await get('/y/1')).status).toBe(404);

    // Fixed: applied.
    from = logs.entries.length;
    reconfigure({ ...valid, '/x': { target: `${one.url}/x`, ...api } });
    const fixed = await nextReloadLine(from);
    expect(fixed.level).toBe('info');
    expect(fixed.message).toBe(`${RELOADED}added /x`);
    expect(outcome(await get('/x/1'))).toBe('200 one /x');
    expect(outcome(await get('/a/4'))).toBe('200 one /a');
  }, 30_000);

  it('keeps serving under load through an invalid change', async () => {
    const one = await namedUpstream('one');
    await start({ '/a': { target: `${one.url}/a`, ...api } });
    const line = await underLoad(
      {
        '/a': { before: '200 one /a', after: '200 one /a' },
        '/b': { before: '404', after: '404' },
      },
      () =>
        reconfigure({
          '/a': { target: `${one.url}/changed`, ...api },
          '/b': { target: `${one.url}/b`, ...api, region: 'nowhere' },
        }),
    );
    expect(line.level).toBe('error');
    expect(line.message).toBe(`${INVALID}proxysigv4['/b'].region: 'nowhere' is not a valid AWS region`);
  }, 30_000);
});

describe('credentials', () => {
  let sts: LocalSts;
  let accepted: AcceptedCredentials;

  beforeEach(async () => {
    accepted = {};
    sts = await startLocalSts({
      sources: { [TEST_CREDENTIALS.accessKeyId]: { ...TEST_CREDENTIALS, arn: MAIN_ARN } },
      accepted,
    });
    cleanups.push(() => sts.close());
  });

  const role = (upstream: VerifyingUpstream, path: string, sessionName: string) => ({
    target: `${upstream.url}${path}`,
    ...api,
    roleArn: 'arn:aws:iam::210987654321:role/backstage-reader',
    roleSessionName: sessionName,
    stsEndpoint: sts.url,
  });
  const sessionNames = () => sts.assumeRoleCalls().map(c => c.params.RoleSessionName);

  it('keeps the credentials of a role route that did not change: no AssumeRole on reload', async () => {
    const one = await namedUpstream('one', accepted);
    const first = {
      '/billing': role(one, '/billing', 'billing'),
      '/audit': role(one, '/audit', 'audit'),
      '/other': { target: `${one.url}/other`, ...api },
    };
    // '/other' signs with the main account, which the upstream does not accept: not requested.
    await start(first);
    expect(outcome(await get('/billing/1'))).toBe('200 one /billing');
    expect(outcome(await get('/audit/1'))).toBe('200 one /audit');
    expect(sessionNames()).toEqual(['billing', 'audit']);

    const from = logs.entries.length;
    reconfigure({
      '/billing': first['/billing'],
      '/audit': role(one, '/audit', 'audit-2'),
      '/other': { target: `${one.url}/elsewhere`, ...api },
    });
    expect((await nextReloadLine(from)).message).toBe(`${RELOADED}changed /audit, /other`);
    for (let i = 0; i < 3; i++) {
      expect(outcome(await get(`/billing/${i}`))).toBe('200 one /billing');
      expect(outcome(await get(`/audit/${i}`))).toBe('200 one /audit');
    }
    // Still one AssumeRole for the unchanged route; the changed one assumed its role anew.
    expect(sessionNames()).toEqual(['billing', 'audit', 'audit-2']);
    expect(one.received.filter(r => r.url.startsWith('/billing')).map(r => sts.sessionOf(r.accessKeyId)?.roleSessionName))
      .toEqual(['billing', 'billing', 'billing', 'billing']);
    expect(sts.calls.filter(c => c.action !== 'AssumeRole')).toEqual([]);
  }, 30_000);

  it('leaves no STS client or timer behind when the backend stops after a reload dropped a role route', async () => {
    const one = await namedUpstream('one', accepted);
    const before = await handles();
    await start({ '/billing': role(one, '/billing', 'billing'), '/audit': role(one, '/audit', 'audit') });
    expect(outcome(await get('/billing/1'))).toBe('200 one /billing');
    expect(outcome(await get('/audit/1'))).toBe('200 one /audit');
    const from = logs.entries.length;
    reconfigure({ '/billing': role(one, '/billing', 'billing') });
    expect((await nextReloadLine(from)).message).toBe(`${RELOADED}removed /audit`);
    expect(outcome(await get('/billing/2'))).toBe('200 one /billing');
    await proxy!.stop();
    proxy = undefined;
    agent.destroy();
    expect(await handlesLeftSince(before)).toEqual({});
  }, 30_000);
});

describe('access follows the new configuration from the swap', () => {
  it('opens, closes and puts a permission on routes, and takes each back', async () => {
    const one = await namedUpstream('one');
    const denyAll = mockServices.permissions.mock({
      authorize: async requests => requests.map(() => ({ result: AuthorizeResult.DENY })) as any,
    });
    const open = { credentials: 'dangerously-allow-unauthenticated' };
    const first = {
      '/flip': { target: `${one.url}/flip`, ...api, ...open },
      '/lock': { target: `${one.url}/lock`, ...api },
      '/perm': { target: `${one.url}/perm`, ...api },
    };
    const second = {
      '/flip': { target: `${one.url}/flip`, ...api },
      '/lock': { target: `${one.url}/lock`, ...api, ...open },
      '/perm': { target: `${one.url}/perm`, ...api, permission: 'proxy-sigv4.perm.use' },
    };
    await start(first, [denyAll.factory]);

    const access = async () => ({
      flip: [(await get('/flip/x', null)).status, (await get('/flip/x')).status],
      lock: [(await get('/lock/x', null)).status, (await get('/lock/x')).status],
      perm: [(await get('/perm/x', null)).status, (await get('/perm/x')).status],
    });
    // [anonymous, user]
    const asFirst = { flip: [200, 200], lock: [401, 200], perm: [401, 200] };
    const asSecond = { flip: [401, 200], lock: [200, 200], perm: [401, 403] };
    expect(await access()).toEqual(asFirst);

    let from = logs.entries.length;
    reconfigure(second);
    expect((await nextReloadLine(from)).message).toBe(`${RELOADED}changed /flip, /lock, /perm`);
    expect(await access()).toEqual(asSecond);

    from = logs.entries.length;
    reconfigure(first);
    expect((await nextReloadLine(from)).message).toBe(`${RELOADED}changed /flip, /lock, /perm`);
    expect(await access()).toEqual(asFirst);

    // What reached the upstream: only what was admitted.
    expect(one.received.map(r => r.url.split('/')[1])).toEqual([
      ...['flip', 'flip', 'lock', 'perm'],
      ...['flip', 'lock', 'lock'],
      ...['flip', 'flip', 'lock', 'perm'],
    ]);
  }, 30_000);

  it('opens a route under a new path to anonymous callers, and closes a removed one', async () => {
    const one = await namedUpstream('one');
    await start({ '/old': { target: `${one.url}/old`, ...api, credentials: 'dangerously-allow-unauthenticated' } });
    expect((await get('/old/x', null)).status).toBe(200);
    const from = logs.entries.length;
    reconfigure({ '/fresh': { target: `${one.url}/fresh`, ...api, credentials: 'dangerously-allow-unauthenticated' } });
    expect((await nextReloadLine(from)).message).toBe(`${RELOADED}added /fresh; removed /old`);
    expect((await get('/fresh/x', null)).status).toBe(200);
    // Gone, and nothing of it stays open.
    expect((await get('/old/x')).status).toBe(404);
    expect((await get('/old/x', null)).status).not.toBe(200);
  }, 30_000);
});

describe('changes elsewhere', () => {
  it('does not reload, nor log, for a change outside proxysigv4', async () => {
    const one = await namedUpstream('one');
    const routes = { '/a': { target: `${one.url}/a`, ...api } };
    await start(routes);
    const from = logs.entries.length;
    reconfigure(routes, { app: { title: 'x' } });
    reconfigure(routes, { app: { title: 'y' }, backend: { somethingElse: true } });
    await sleep(300);
    expect(pluginLines(from)).toEqual([]);
    expect(outcome(await get('/a/1'))).toBe('200 one /a');
    // The route kept its pooled connection: nothing was rebuilt.
    expect(outcome(await get('/a/2'))).toBe('200 one /a');
    expect(one.connections).toHaveLength(1);
    // And a change inside it is seen (the check above could not pass by the subscription missing).
    reconfigure({ '/a': { target: `${one.url}/b`, ...api } }, { app: { title: 'y' } });
    expect((await nextReloadLine(from)).message).toBe(`${RELOADED}changed /a`);
  }, 30_000);
});

describe('connections', () => {
  it("closes a removed route's pooled connection once its request in flight has finished, and keeps an unchanged route's", async () => {
    const one = await namedUpstream('one');
    const slow = await namedUpstream('slow');
    const slowAnswer = named('slow');
    slow.handler = (req, res, received) => {
      setTimeout(() => slowAnswer(req, res, received), 1500); // longer than the reload takes to settle
    };
    const keep = { target: `${one.url}/keep`, ...api };
    await start({ '/keep': keep, '/slow': { target: `${slow.url}/slow`, ...api } });

    expect(outcome(await get('/keep/1'))).toBe('200 one /keep');
    expect(outcome(await get('/slow/1'))).toBe('200 slow /slow');
    await sleep(100);
    // Both pooled, idle, and open.
    expect(one.open().length).toBe(1);
    expect(slow.open().length).toBe(1);

    // A request in flight on /slow, on its pooled connection, when the route is removed.
    const inFlight = get('/slow/2');
    while (slow.received.length < 2) await sleep(5);
    const from = logs.entries.length;
    reconfigure({ '/keep': keep });
    expect((await nextReloadLine(from)).message).toBe(`${RELOADED}removed /slow`);
    expect(slow.open().length).toBe(1);
    expect(outcome(await inFlight)).toBe('200 slow /slow');
    expect(slow.connections).toHaveLength(1);
    expect((await get('/slow/3')).status).toBe(404);

    // Closed once idle: well before the agent's own 4 s idle timeout.
    const deadline = Date.now() + 1000;
    while (slow.open().length > 0 && Date.now() < deadline) await sleep(10);
    expect(slow.open().length).toBe(0);

    // The unchanged route's connection stayed open, and is reused.
    expect(one.open().length).toBe(1);
    expect(outcome(await get('/keep/2'))).toBe('200 one /keep');
    expect(one.connections).toHaveLength(1);
  }, 30_000);

  it('leaves nothing running after the backend stops: a later change reaches nothing', async () => {
    const one = await namedUpstream('one');
    const before = await handles();
    await start({ '/a': { target: `${one.url}/a`, ...api } });
    const from = logs.entries.length;
    reconfigure({ '/b': { target: `${one.url}/b`, ...api } });
    await nextReloadLine(from);
    expect(outcome(await get('/b/1'))).toBe('200 one /b');
    await proxy!.stop();
    proxy = undefined;
    agent.destroy();

    const afterStop = logs.entries.length;
    reconfigure({ '/c': { target: `${one.url}/c`, ...api } });
    await sleep(200);
    expect(pluginLines(afterStop)).toEqual([]);
    // The route's pooled connection to the upstream was closed.
    expect(one.open().length).toBe(0);
    expect(await handlesLeftSince(before)).toEqual({});
  }, 30_000);
});

describe('a section that disappears', () => {
  /** The configuration without any proxysigv4 section, as a file read empty gives it. */
  function withoutSection() {
    const { proxysigv4: _gone, ...rest } = proxyConfigData({}) as JsonObject;
    live.update({ data: rest });
  }

  it('is believed only if it is still gone a second later', async () => {
    const one = await namedUpstream('one');
    await start({ '/keep': { target: `${one.url}/k`, ...api } });
    const keep = () => proxy!.http().get(`${P}/keep/x`).set('authorization', USER);
    const from = logs.entries.length;

    // Gone for a moment (an editor's truncate-then-write), then back as it was: nothing happens.
    withoutSection();
    expect((await keep()).status).toBe(200);
    reconfigure({ '/keep': { target: `${one.url}/k`, ...api } });
    await sleep(1300);
    expect((await keep()).status).toBe(200);
    expect(reloadLines(from)).toEqual([]);

    // Gone for good: the routes go a second later.
    withoutSection();
    expect((await keep()).status).toBe(200);
    expect((await nextReloadLine(from)).message).toBe(`${RELOADED}removed /keep`);
    expect((await keep()).status).toBe(404);
  }, 30_000);
});

describe('a response still streaming', () => {
  it('is streamed to its end when a reload removes its route mid-body', async () => {
    const one = await namedUpstream('one');
    one.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let sent = 0;
      const timer = setInterval(() => {
        res.write(Buffer.alloc(1024, 'x'));
        if (++sent === 20) {
          clearInterval(timer);
          res.end();
        }
      }, 40);
    };
    await start({ '/stream': { target: `${one.url}/s`, ...api } });
    const from = logs.entries.length;
    const body = proxy!
      .http()
      .get(`${P}/stream/big`)
      .set('authorization', USER)
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });
    await sleep(200); // the head and the first chunks have arrived
    reconfigure({});
    const res = await body;
    expect((await nextReloadLine(from)).message).toBe(`${RELOADED}removed /stream`);
    expect(res.status).toBe(200);
    expect((res.body as Buffer).length).toBe(20 * 1024);
    // And once it is done, the removed route's connection is closed.
    for (let i = 0; i < 100 && one.open().length > 0; i++) await sleep(20);
    expect(one.open()).toEqual([]);
  }, 30_000);
});

/*
 * sessionPerCaller end to end: a real test backend whose route assumes its role once per
 * Backstage caller through the real @aws-sdk/client-sts, against a local STS that applies
 * AWS's rules for session names, SourceIdentity, session tags and trust policies, and an
 * upstream that accepts only what that STS issued and records which session signed each
 * request (the access key id of the signature, looked up in the STS's issued sessions).
 */
import http from 'node:http';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import fc from 'fast-check';
import {
  AcceptedCredentials,
  IssuedSession,
  LocalSts,
  startLocalSts,
  startVerifyingUpstream,
  VerifyingUpstream,
} from '../../localAws';
import { RunningProxy, startProxy, TEST_CREDENTIALS } from '../__testUtils__/startProxy';
import { capturingLogger } from '../__testUtils__/capturingLogger';
import { userInfoTable, UserInfoTable } from '../__testUtils__/userInfoTable';
import { fcParameters } from '../__testUtils__/fcSettings';
import { CallerRef, sessionIdentity } from '../credentials/callerIdentity';
import { createRouter } from './router';

const P = '/api/proxy-sigv4';
const MAIN_ARN = 'arn:aws:iam::111111111111:role/backstage-backend';
const ROLE = 'arn:aws:iam::111122223333:role/backstage-team-data';
const JANE = 'user:default/jane.doe';
const BOB = 'user:finance/bob';

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
const user = (ref: string) => mockCredentials.user.header(ref);
/** A service token whose subject is `subject` (a plugin: `plugin:<id>`). */
const service = (subject: string) =>
  mockCredentials.service.header({
    onBehalfOf: mockCredentials.service(subject),
    targetPluginId: 'proxy-sigv4',
  });

let accepted: AcceptedCredentials;
let upstream: VerifyingUpstream;
let sts: LocalSts;
let proxy: RunningProxy | undefined;
let info: UserInfoTable;
let logs: ReturnType<typeof capturingLogger>;

beforeEach(async () => {
  accepted = {};
  upstream = await startVerifyingUpstream(accepted);
  sts = await startLocalSts({
    sources: { [TEST_CREDENTIALS.accessKeyId]: { ...TEST_CREDENTIALS, arn: MAIN_ARN } },
    accepted,
  });
  info = userInfoTable({
    [JANE]: [JANE, 'group:default/team-a', 'group:default/platform', 'component:default/api'],
    [BOB]: [BOB, 'group:finance/payroll'],
  });
  logs = capturingLogger();
});

afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
  await upstream.close();
  await sts.close();
});

const route = (perCaller: unknown = true, extra: object = {}) => ({
  target: `${upstream.url}/data`,
  service: 'execute-api',
  region: 'eu-west-1',
  roleArn: ROLE,
  stsEndpoint: sts.url,
  sessionPerCaller: perCaller,
  ...extra,
});

async function start(routes: object, features: unknown[] = []) {
  proxy = await startProxy(routes as any, {}, {
    logger: logs.factory,
    features: [info.factory, ...(features as any[])],
  });
  return proxy;
}

/** The session that signed each request the upstream received, in order. */
const signers = (): (IssuedSession | undefined)[] =>
  upstream.received.map(r => sts.sessionOf(r.accessKeyId));
const tagsOf = (session: IssuedSession | undefined) =>
  Object.fromEntries((session?.tags ?? []).map(t => [t.key, t.value]));
const assumedAs = () => sts.assumeRoleCalls().map(c => c.params.RoleSessionName);

it('gives distinct callers distinct sessions that name them, with their groups as tags', async () => {
  await start({ '/team-data': route() });
  const callers = [
    [user(JANE), 'jane.doe'],
    [user(BOB), 'bob@finance'],
    [service('plugin:catalog'), 'plugin+catalog'],
    // A static external-access token's subject, as configured: no `:`, so hashed.
    [service('ci-bot'), sessionIdentity({ type: 'service', subject: 'ci-bot' })],
  ] as const;
  for (const [auth] of callers) {
    const res = await proxy!.http().get(`${P}/team-data/file`).set('authorization', auth);
    expect(res.status).toBe(200);
  }
  expect(upstream.received.map(r => r.signatureError)).toEqual(callers.map(() => undefined));
  const sessions = signers();
  expect(sessions.map(s => [s?.roleSessionName, s?.sourceIdentity])).toEqual(
    callers.map(([, name]) => [name, name]),
  );
  expect(new Set(upstream.received.map(r => r.accessKeyId)).size).toBe(4);
  expect(sessions[3]?.roleSessionName).toMatch(/^ci-bot=[a-z2-7]{16}$/);
  expect(sessions[0]?.assumedRoleArn).toBe(
    'arn:aws:sts::111122223333:assumed-role/backstage-team-data/jane.doe',
  );
  expect(tagsOf(sessions[0])).toEqual({
    'backstage-caller': 'jane.doe',
    'backstage-caller-type': 'user',
    'backstage-user': 'jane.doe',
    'backstage-group-1': 'platform',
    'backstage-group-2': 'team-a',
    'backstage-groups': 'complete',
  });
  expect(tagsOf(sessions[1])).toMatchObject({
    'backstage-user': 'bob@finance',
    'backstage-group-1': 'payroll@finance',
    'backstage-groups': 'complete',
  });
  expect(tagsOf(sessions[2])).toEqual({
    'backstage-caller': 'plugin+catalog',
    'backstage-caller-type': 'service',
  });
  // Not transitive unless asked.
  expect(sessions.map(s => s?.transitiveTagKeys)).toEqual([[], [], [], []]);

  // A second request of a caller reuses their session.
  await proxy!.http().get(`${P}/team-data/again`).set('authorization', user(JANE));
  expect(sts.assumeRoleCalls()).toHaveLength(4);
  expect(signers()[4]?.roleSessionName).toBe('jane.doe');
});

it('names a plugin acting for a user after the user, with the plugin as the actor tag', async () => {
  await start({ '/team-data': route() });
  // A user token that a plugin obtained on the user's behalf: its principal has an actor.
  const obo = `Bearer ${mockCredentials.user.token(JANE, { actor: { subject: 'plugin:scaffolder' } })}`;
  expect((await proxy!.http().get(`${P}/team-data/x`).set('authorization', obo)).status).toBe(200);
  // The same user without an actor: the same name, another session (without the actor tag).
  expect((await proxy!.http().get(`${P}/team-data/y`).set('authorization', user(JANE))).status).toBe(200);
  const [session, again] = signers();
  expect(session).toMatchObject({ roleSessionName: 'jane.doe', sourceIdentity: 'jane.doe' });
  expect(tagsOf(session)).toMatchObject({
    'backstage-user': 'jane.doe',
    'backstage-actor': 'plugin:scaffolder',
    'backstage-group-2': 'team-a',
  });
  expect(sts.assumeRoleCalls()).toHaveLength(2);
  expect(tagsOf(again)).not.toHaveProperty('backstage-actor');
});

it("records each request's AWS session in the audit log, to join it with CloudTrail", async () => {
  await start({ '/team-data': route() });
  await proxy!.http().get(`${P}/team-data/file`).set('authorization', user(JANE));
  let final;
  for (let i = 0; i < 200 && !final; i++) {
    final = logs.entries.find(e => e.fields.isAuditEvent && e.fields.status === 'succeeded');
    if (!final) await sleep(10);
  }
  expect(final?.fields.meta).toMatchObject({
    caller: JANE,
    awsSession: { roleSessionName: 'jane.doe', sourceIdentity: 'jane.doe' },
  });
});

it("makes one AssumeRole per caller for that caller's concurrent cold requests", async () => {
  await start({ '/team-data': route() });
  sts.delayMs = 200;
  const callers = Array.from({ length: 8 }, (_, i) => `user:default/member-${i}`);
  const results = await Promise.all(
    callers.flatMap(ref =>
      Array.from({ length: 6 }, (_, j) =>
        proxy!.http().get(`${P}/team-data/${j}`).set('authorization', user(ref)),
      ),
    ),
  );
  expect(results.map(r => r.status)).toEqual(results.map(() => 200));
  expect(assumedAs().sort()).toEqual(callers.map(c => c.replace('user:default/', '')).sort());
});

it('never signs a request with another caller\'s session, whatever the interleaving (generated)', async () => {
  // Few kept sessions, so that evictions happen mid-flight; STS answers at random delays.
  await start({ '/team-data': route({ maxCallers: 3 }) });
  const refs = Array.from({ length: 12 }, (_, i) => `user:default/u${i}`);
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({ caller: fc.nat({ max: refs.length - 1 }), delay: fc.nat({ max: 30 }) }),
        { minLength: 5, maxLength: 30 },
      ),
      fc.nat({ max: 40 }),
      async (steps, stsDelay) => {
        sts.delayMs = stsDelay;
        upstream.received.length = 0;
        const results = await Promise.all(
          steps.map(async ({ caller, delay }, i) => {
            await sleep(delay);
            return proxy!.http().get(`${P}/team-data/from/u${caller}/${i}`).set('authorization', user(refs[caller]));
          }),
        );
        expect(results.map(r => r.status)).toEqual(results.map(() => 200));
        for (const received of upstream.received) {
          const sender = /\/from\/(u\d+)\//.exec(received.url)![1];
          const session = sts.sessionOf(received.accessKeyId);
          expect([received.url, session?.sourceIdentity, session?.roleSessionName]).toEqual([
            received.url,
            sender,
            sender,
          ]);
        }
      },
    ),
    fcParameters(12),
  );
}, 60_000);

it('keeps at most maxCallers sessions, dropping the least recently used', async () => {
  await start({ '/team-data': route({ maxCallers: 2 }) });
  const get = (name: string) =>
    proxy!.http().get(`${P}/team-data/x`).set('authorization', user(`user:default/${name}`));
  for (const name of ['ann', 'ben', 'ann', 'cid']) {
    expect((await get(name)).status).toBe(200);
  }
  // ann was used after ben: ben was dropped for cid, ann was kept.
  expect(assumedAs()).toEqual(['ann', 'ben', 'cid']);
  await get('ann');
  expect(assumedAs()).toEqual(['ann', 'ben', 'cid']);
  await get('ben');
  expect(assumedAs()).toEqual(['ann', 'ben', 'cid', 'ben']);
});

it("refreshes only an active caller's session ahead of expiry; an idle one lapses", async () => {
  sts.lifetimeMs = 3000; // usable for 2 s, refreshed from 1 s
  await start({ '/team-data': route() });
  const get = (ref: string) => proxy!.http().get(`${P}/team-data/x`).set('authorization', user(ref));
  await get(JANE);
  await get(BOB);
  for (let i = 0; i < 8; i++) {
    await sleep(250);
    await get(JANE);
  }
  const calls = assumedAs();
  expect(calls.filter(n => n === 'bob@finance')).toHaveLength(1);
  // Jane's second session was fetched ahead: before her first one stopped being usable
  // (a third of the lifetime before its expiry), not on demand after it.
  const jane = sts.issued.filter(i => i.roleSessionName === 'jane.doe');
  expect(jane.length).toBeGreaterThanOrEqual(2);
  const issuedAt = (i: IssuedSession) => i.expiresAt - sts.lifetimeMs;
  expect(issuedAt(jane[1])).toBeLessThan(jane[0].expiresAt - sts.lifetimeMs / 3);
}, 30_000);

it("gives a caller a new session when their groups change, with the new groups' tags", async () => {
  await start({ '/team-data': route() });
  await proxy!.http().get(`${P}/team-data/x`).set('authorization', user(JANE));
  info.groups.set(JANE, [JANE, 'group:default/team-b']);
  await proxy!.http().get(`${P}/team-data/x`).set('authorization', user(JANE));
  const [before, after] = signers();
  expect(before?.accessKeyId).not.toBe(after?.accessKeyId);
  expect(tagsOf(before)['backstage-group-2']).toBe('team-a');
  expect(tagsOf(after)).toMatchObject({ 'backstage-group-1': 'team-b', 'backstage-groups': 'complete' });
  expect(tagsOf(after)).not.toHaveProperty('backstage-group-2');
});

it('names cookie callers after their user, on a user-cookie S3 route', async () => {
  await start({
    '/bucket': {
      target: `${upstream.url}/bucket`,
      service: 's3',
      region: 'eu-west-1',
      roleArn: ROLE,
      stsEndpoint: sts.url,
      credentials: 'user-cookie',
      sessionPerCaller: true,
    },
  });
  const res = await proxy!
    .http()
    .get(`${P}/bucket/home/alice/cat.png`)
    .set('cookie', mockCredentials.limitedUser.cookie('user:default/alice'));
  expect(res.status).toBe(200);
  expect(upstream.received[0].signatureError).toBeUndefined();
  expect(signers()[0]).toMatchObject({ roleSessionName: 'alice', sourceIdentity: 'alice' });
  expect(tagsOf(signers()[0])).toMatchObject({ 'backstage-user': 'alice', 'backstage-groups': 'complete' });
});

it('makes the session without group tags when the user info cannot be had, and says so once', async () => {
  await start({ '/team-data': route() });
  info.failing.add(JANE);
  for (let i = 0; i < 3; i++) {
    expect((await proxy!.http().get(`${P}/team-data/x`).set('authorization', user(JANE))).status).toBe(200);
  }
  const tags = tagsOf(signers()[0]);
  expect(tags).toMatchObject({ 'backstage-user': 'jane.doe', 'backstage-groups': 'partial' });
  expect(Object.keys(tags).filter(k => k.startsWith('backstage-group-'))).toEqual([]);
  expect(assumedAs()).toEqual(['jane.doe']);
  const warnings = logs.entries.filter(e => e.level === 'warn' && /could not look up a caller's groups/.test(e.message));
  expect(warnings).toHaveLength(1);
});

describe('a trust policy without the permission sessionPerCaller needs', () => {
  it.each([
    ['sts:SetSourceIdentity', { setSourceIdentity: false, tagSession: true }, 'sessionPerCaller.sourceIdentity'],
    ['sts:TagSession', { setSourceIdentity: true, tagSession: false }, 'sessionPerCaller.sessionTags'],
  ])('answers a clear 503 naming %s, shows it in the route check, and recovers once it is allowed', async (permission, trust, part) => {
    sts.trust[ROLE] = trust;
    await start({ '/team-data': route(true, { externalId: 'ext-secret-7f1c' }) });
    const get = () => proxy!.http().get(`${P}/team-data/x`).set('authorization', user(JANE));
    const res = await get();
    expect(res.status).toBe(503);
    expect(res.body.error.message).toContain(`does not allow ${permission}`);
    expect(res.body.error.message).toContain('trust policy');
    expect(res.body.error.message).toContain(part);
    expect(JSON.stringify(res.body)).not.toContain('ext-secret-7f1c');
    expect(upstream.received).toHaveLength(0);

    const check = await proxy!.http().get(`${P}/_routes`).set('authorization', user(JANE));
    expect(check.status).toBe(200);
    expect(check.body.routes[0].check).toMatchObject({ ok: false, code: 'AccessDenied', missingPermission: permission });

    const failures = () => logs.entries.filter(e => e.level === 'warn' && e.message.includes(`does not allow ${permission}`));
    for (let i = 0; i < 5; i++) await get();
    expect(failures()).toHaveLength(1);

    sts.trust[ROLE] = { setSourceIdentity: true, tagSession: true };
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      await sleep(200);
      status = (await get()).status;
    }
    expect(status).toBe(200);
  }, 30_000);
});

it('leaves the group tags out when STS finds them too large once packed, and still serves the caller', async () => {
  // The backend's own session already uses most of the budget (EKS Pod Identity's tags).
  sts.inheritedPackedPercent = 80;
  info.groups.set(JANE, [JANE, ...Array.from({ length: 30 }, (_, i) => `group:default/team-with-a-long-name-${i}`)]);
  await start({ '/team-data': route() });
  for (let i = 0; i < 2; i++) {
    expect((await proxy!.http().get(`${P}/team-data/x`).set('authorization', user(JANE))).status).toBe(200);
  }
  const tags = tagsOf(signers()[0]);
  expect(tags).toMatchObject({ 'backstage-caller': 'jane.doe', 'backstage-user': 'jane.doe', 'backstage-groups': 'partial' });
  expect(Object.keys(tags).filter(k => k.startsWith('backstage-group-'))).toEqual([]);
  // Refused once with the groups, then made without them; the second request reuses it.
  expect(assumedAs()).toEqual(['jane.doe', 'jane.doe']);
  expect(logs.entries.filter(e => e.level === 'warn' && /PackedPolicyTooLarge/.test(e.message))).toHaveLength(1);
});

it('answers the route check for the caller who asks: the session they would sign as', async () => {
  await start({ '/team-data': route({ transitiveTags: true }) });
  const res = await proxy!.http().get(`${P}/_routes`).set('authorization', user(JANE));
  expect(res.status).toBe(200);
  const [report] = res.body.routes;
  expect(report.check).toMatchObject({
    ok: true,
    arn: 'arn:aws:sts::111122223333:assumed-role/backstage-team-data/jane.doe',
  });
  expect(report.you).toBe('you would sign as arn:aws:sts::111122223333:assumed-role/backstage-team-data/jane.doe');
  expect(report.session).toMatchObject({
    roleSessionName: 'jane.doe',
    sourceIdentity: 'jane.doe',
    droppedTags: [],
    transitiveTagKeys: expect.arrayContaining(['backstage-caller', 'backstage-group-1']),
  });
  expect(report.credentials.sessionPerCaller).toMatchObject({ sourceIdentity: true, transitiveTags: true });
  const bob = await proxy!.http().get(`${P}/_routes`).set('authorization', user(BOB));
  expect(bob.body.routes[0].you).toMatch(/\/bob@finance$/);
  // Transitive tags reached STS as such.
  expect(sts.issued[0].transitiveTagKeys).toContain('backstage-caller');
});

it('names the caller to a credentials endpoint, and caches its answer per caller', async () => {
  const bodies: any[] = [];
  let n = 0;
  const endpoint = http.createServer((req, res) => {
    let text = '';
    req.on('data', c => (text += c));
    req.on('end', () => {
      bodies.push(JSON.parse(text));
      const creds = { accessKeyId: `AKIDENDPOINT${++n}`, secretAccessKey: `endpoint-secret-${n}` };
      accepted[creds.accessKeyId] = creds;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ...creds, sessionToken: `token-${n}`, expiresAt: new Date(Date.now() + 3_600_000).toISOString() }));
    });
  });
  await new Promise<void>(r => endpoint.listen(0, '127.0.0.1', () => r()));
  try {
    const { port } = endpoint.address() as import('node:net').AddressInfo;
    await start({
      '/team-data': {
        target: `${upstream.url}/data`,
        service: 'execute-api',
        region: 'eu-west-1',
        roleArn: ROLE,
        credentialsEndpoint: { url: `http://127.0.0.1:${port}/creds` },
        sessionPerCaller: { sessionTags: false },
      },
    });
    for (const ref of [JANE, BOB, JANE]) {
      expect((await proxy!.http().get(`${P}/team-data/x`).set('authorization', user(ref))).status).toBe(200);
    }
    expect(bodies.map(b => b.caller)).toEqual([
      { type: 'user', reference: JANE, role_session_name: 'jane.doe', source_identity: 'jane.doe', tags: [], transitive_tag_keys: [] },
      { type: 'user', reference: BOB, role_session_name: 'bob@finance', source_identity: 'bob@finance', tags: [], transitive_tag_keys: [] },
    ]);
    expect(upstream.received.map(r => r.accessKeyId)).toEqual(['AKIDENDPOINT1', 'AKIDENDPOINT2', 'AKIDENDPOINT1']);
  } finally {
    endpoint.close();
  }
});

it('refuses to start with session tags but no user info service', async () => {
  // Without coreServices.userInfo the groups cannot be had; the router says so at start.
  expect(() =>
    createRouter({
      config: new ConfigReader({
        aws: { mainAccount: TEST_CREDENTIALS },
        proxysigv4: { '/team-data': route() } as any,
      }),
      logger: mockServices.logger.mock(),
      httpAuth: mockServices.httpAuth(),
    }),
  ).toThrow(/sends session tags with the callers' groups \(sessionPerCaller\), but the router was given no userInfo service/);
});

it('maps the callers this file uses as the docs say (a guard for the expectations above)', () => {
  const ref = (r: string): CallerRef => ({ type: 'user', ref: r });
  expect([JANE, BOB].map(r => sessionIdentity(ref(r)))).toEqual(['jane.doe', 'bob@finance']);
});

it('checks at start only the credentials that assume the role, so that starting needs no per-caller permission', async () => {
  sts.trust[ROLE] = { setSourceIdentity: false, tagSession: false };
  await start({ checkCredentialsOnStart: true, '/team-data': route() });
  let line;
  for (let i = 0; i < 200 && !line; i++) {
    line = logs.entries.find(e => /proxysigv4 route \/team-data (assumes|: the credentials)/.test(e.message));
    if (!line) await sleep(20);
  }
  expect(line?.message).toBe(
    `proxysigv4 route /team-data assumes ${ROLE} once per caller, with ${MAIN_ARN}; each session is named after its caller (GET /_routes shows yours)`,
  );
  expect(sts.assumeRoleCalls()).toHaveLength(0);
  expect(sts.calls.map(c => c.action)).toEqual(['GetCallerIdentity']);
});

it('with SourceIdentity and tags off, still gives each caller a session named after them, asking STS for nothing more', async () => {
  // A trust policy with neither permission: nothing beyond sts:AssumeRole is needed.
  sts.trust[ROLE] = { setSourceIdentity: false, tagSession: false };
  await start({ '/team-data': route({ sourceIdentity: false, sessionTags: false }) });
  for (const ref of [JANE, BOB]) {
    expect((await proxy!.http().get(`${P}/team-data/x`).set('authorization', user(ref))).status).toBe(200);
  }
  expect(signers().map(s => [s?.roleSessionName, s?.sourceIdentity, s?.tags])).toEqual([
    ['jane.doe', undefined, []],
    ['bob@finance', undefined, []],
  ]);
  expect(sts.assumeRoleCalls().map(c => Object.keys(c.params).filter(k => /^(SourceIdentity|Tags)/.test(k)))).toEqual([[], []]);
  // No user info is looked up when no tags are sent.
  expect(info.lookups).toEqual([]);
});

it('says once, when the session is made, which groups were left out and why', async () => {
  info.groups.set(JANE, [JANE, 'group:default/team-a', 'group:default/team#b', `group:default/${'x'.repeat(300)}`]);
  await start({ '/team-data': route() });
  for (let i = 0; i < 3; i++) {
    expect((await proxy!.http().get(`${P}/team-data/x`).set('authorization', user(JANE))).status).toBe(200);
  }
  expect(tagsOf(signers()[0])).toMatchObject({ 'backstage-group-1': 'team-a', 'backstage-groups': 'partial' });
  const warnings = logs.entries.filter(e => e.level === 'warn' && /is made without some tags/.test(e.message));
  expect(warnings.map(w => w.message)).toEqual([
    `proxysigv4: the session of role ${ROLE} (assumed with the main AWS account) for caller jane.doe is made without some tags (fewer rights, never more): group:default/team#b (characters), group:default/${'x'.repeat(300)} (too-long)`,
  ]);
});

it("presigns with the caller's own session: the URL names them in CloudTrail and works until that session ends", async () => {
  await start({
    '/bucket': route(true, { service: 's3', region: 'eu-west-1', presign: true }),
  });
  const urls: string[] = [];
  for (const who of [JANE, BOB]) {
    const res = await proxy!.http().post(`${P}/_presign`).set('authorization', user(who)).send({ route: '/bucket', path: '/report.csv' });
    expect(res.status).toBe(200);
    urls.push(res.body.url);
    // Never past the session's own expiry.
    const keyId = new URL(res.body.url).searchParams.get('X-Amz-Credential')!.split('/')[0];
    expect(Date.parse(res.body.expiresAt)).toBeLessThanOrEqual(sts.sessionOf(keyId)!.expiresAt);
  }
  const keys = urls.map(u => new URL(u).searchParams.get('X-Amz-Credential')!.split('/')[0]);
  expect(keys.map(k => sts.sessionOf(k)?.roleSessionName)).toEqual(['jane.doe', 'bob@finance']);
  // The URL works against the upstream, which checks it with aws4 (and the session's token).
  const got = await new Promise<number>((resolve, reject) => {
    http.get(urls[0], res => {
      res.resume();
      resolve(res.statusCode!);
    }).on('error', reject);
  });
  expect(got).toBe(200);
  expect(upstream.received.at(-1)).toMatchObject({ presigned: true, signatureError: undefined, accessKeyId: keys[0] });
  const presignRecord = () =>
    logs.entries.find(e => e.fields.isAuditEvent && e.fields.eventId === 'presign' && e.fields.status === 'succeeded');
  for (let i = 0; i < 200 && !presignRecord(); i++) await sleep(10);
  expect(presignRecord()?.fields.meta).toMatchObject({ awsSession: { roleSessionName: 'jane.doe', sourceIdentity: 'jane.doe' } });
});

/*
 * The benchmark's `callers` figure (issue 15): many distinct Backstage callers against one
 * `sessionPerCaller` route. What one AWS session per caller costs: AssumeRole calls (one per
 * caller, then none while their sessions live), the backend's memory per caller, and a
 * caller's first request (which waits for their AssumeRole) against a warm one.
 *
 * Its own processes, started fresh: a real Backstage backend with this plugin
 * (bench/backend.ts, through bench/callersBackend.ts, which also tells its heap without
 * compiled code), whose callers are distinct static external access tokens (one subject
 * each: `bench-caller-0001`...); and, in this process, the local STS (real-sized session
 * tokens, `tokenBytes`) and an upstream that verifies every signature with aws4 and records
 * which key signed it, so that each request is checked to be signed with its own caller's
 * session. Requests go one at a time on one keep-alive connection: latency is the plugin's,
 * not a queue's.
 *
 * Routes, all assuming the same role from the same source credentials:
 * - `/callers`: `sessionPerCaller: { maxCallers }` with room for every caller (tags on:
 *   service callers get `backstage-caller` and `backstage-caller-type`, no group tags);
 * - `/shared`: no `sessionPerCaller`, one session for everyone: the warm baseline;
 * - `/evicting`: `sessionPerCaller` with `maxCallers: 100`, fewer than the callers: the
 *   least recently used sessions are dropped, and their callers' next requests assume the
 *   role again (110 new sessions in all, within the plugin's limit of 1000 new sessions a
 *   minute).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  AcceptedCredentials,
  backendConfigYaml,
  freePort,
  startLocalSts,
  startVerifyingUpstream,
} from '../localAws';
import { sessionIdentity } from '../src/credentials/callerIdentity';
import { ask, collectedMemory, Memory, startProcess } from './processes';
import { transfer } from './measure';

const log = (s: string) => process.stderr.write(`${s}\n`);

/** AWS session tokens are about 1 to 2 KB; the local STS's default (64) would flatter memory. */
const TOKEN_BYTES = 1000;
/**
 * Callers that warm the code paths (the STS client, the signer) before anything is measured:
 * with 20 the optimised code compiled during the measured first requests still showed as
 * some 3 KB per caller in a quick run.
 */
const WARM_UP_CALLERS = 100;
/** How many of the first and of the last callers are set against each other (token order). */
const TOKEN_ORDER_CALLERS = 100;
/** `maxCallers` of the `/evicting` route. */
const EVICTING_MAX_CALLERS = 100;
/** Callers past `maxCallers` on `/evicting`: as many sessions are dropped. */
const EVICTED = 5;
const ROLE = 'arn:aws:iam::111122223333:role/backstage-bench-callers';
const SOURCE = {
  accessKeyId: 'AKIDBENCHCALLERS',
  secretAccessKey: 'bench-callers-secret-access-key',
  arn: 'arn:aws:iam::111111111111:user/backstage-bench',
};

export interface CallersOptions {
  quick: boolean;
  /** Where to write the backend's configuration. */
  dir: string;
  /** Node options for the backend (a CPU profile). */
  nodeOptions?: string[];
}

interface Caller {
  subject: string;
  token: string;
  /** The AWS session name the plugin gives this caller. */
  identity: string;
}

const callerNamed = (subject: string): Caller => ({
  subject,
  token: `${subject}-token-for-local-use-only`,
  identity: sessionIdentity({ type: 'service', subject }),
});

const percentile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};

/** Runs the callers figure and renders its table (Markdown). */
export async function runCallers(options: CallersOptions): Promise<string> {
  const count = options.quick ? 200 : 1000;
  const callers = Array.from({ length: count }, (_, i) =>
    callerNamed(`bench-caller-${String(i + 1).padStart(4, '0')}`),
  );
  const warmUp = Array.from({ length: WARM_UP_CALLERS }, (_, i) =>
    callerNamed(`bench-warm-up-${String(i + 1).padStart(3, '0')}`),
  );

  const accepted: AcceptedCredentials = {};
  const upstream = await startVerifyingUpstream(accepted);
  const sts = await startLocalSts({
    sources: { [SOURCE.accessKeyId]: { secretAccessKey: SOURCE.secretAccessKey, arn: SOURCE.arn } },
    accepted,
    tokenBytes: TOKEN_BYTES,
  });
  try {
    const port = await freePort();
    const role = `roleArn: '${ROLE}', stsEndpoint: '${sts.url}'`;
    const target = (name: string) => `target: '${upstream.url}/${name}', service: execute-api, region: eu-west-1`;
    // backendConfigYaml ends with its one static token; the callers' follow in the same list
    // (the last caller's request below fails with 401 if they do not).
    const yaml = `${backendConfigYaml(port, 'bench-callers-unused-token', 'bench')}${[...warmUp, ...callers]
      .map(c => `      - type: static\n        options: { token: ${c.token}, subject: ${c.subject} }\n`)
      .join('')}aws:
  mainAccount: { accessKeyId: ${SOURCE.accessKeyId}, secretAccessKey: ${SOURCE.secretAccessKey} }
proxysigv4:
  checkCredentialsOnStart: false
  '/callers': { ${target('callers')}, ${role}, sessionPerCaller: { maxCallers: ${count + WARM_UP_CALLERS} } }
  '/shared': { ${target('shared')}, ${role} }
  '/evicting': { ${target('evicting')}, ${role}, sessionPerCaller: { maxCallers: ${EVICTING_MAX_CALLERS} } }
`;
    const configFile = path.join(options.dir, 'callers.yaml');
    fs.writeFileSync(configFile, yaml);
    log(`callers: starting a backend with ${count + WARM_UP_CALLERS} static access tokens`);
    const backend = await startProcess(
      'callers backend',
      ['bench/callersBackend.ts', 'ours', '--config', configFile],
      { LOG_LEVEL: 'warn', NODE_ENV: 'production' },
      // V8 drops the bytecode of functions that have not run for a few major GCs, and the
      // memory probe's forced GCs age them: without this the heap falls by hundreds of KiB
      // between two measurements for reasons that have nothing to do with the callers.
      ['--no-flush-bytecode', ...(options.nodeOptions ?? [])],
    );
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const base = `http://127.0.0.1:${port}/api/proxy-sigv4`;

    /** One GET as `caller`, which must succeed; its latency in ms. */
    const get = async (route: string, caller: Caller, pass: string) => {
      const r = await transfer(`${base}/${route}/${caller.subject}/${pass}`, {
        headers: { authorization: `Bearer ${caller.token}` },
        agent,
      });
      if (r.status !== 200) {
        throw new Error(`callers: ${route} as ${caller.subject} answered ${r.status}`);
      }
      return r.total;
    };
    /** One request per caller, in order: latencies, and the AssumeRole calls made meanwhile. */
    const pass = async (route: string, who: Caller[], name: string) => {
      const before = sts.assumeRoleCalls().length;
      const latencies: number[] = [];
      for (const caller of who) latencies.push(await get(route, caller, name));
      return { latencies, assumeRoles: sts.assumeRoleCalls().length - before };
    };
    /** The backend's memory after a full GC; `data`: its V8 heap without compiled code. */
    const collected = async (): Promise<Memory & { data: number }> => {
      const spaces = await ask<Record<string, number>>(backend.child, 'heap spaces', 'heapSpaces');
      const data = Object.entries(spaces)
        .filter(([name]) => !name.includes('code'))
        .reduce((sum, [, used]) => sum + used, 0);
      return { ...(await collectedMemory(backend.child)), data };
    };

    /**
     * Caller by caller: their first request, at once a warm one, then one on the shared
     * session; interleaved, so that the three see the same load on this machine.
     */
    const interleaved = async (who: Caller[], name: string) => {
      const first = { latencies: [] as number[], assumeRoles: 0 };
      const warm = { latencies: [] as number[], assumeRoles: 0 };
      const shared = { latencies: [] as number[], assumeRoles: 0 };
      for (const caller of who) {
        for (const [route, into] of [['callers', first], ['callers', warm], ['shared', shared]] as const) {
          const before = sts.assumeRoleCalls().length;
          into.latencies.push(await get(route, caller, name));
          into.assumeRoles += sts.assumeRoleCalls().length - before;
        }
      }
      return { first, warm, shared };
    };

    // The same requests as measured, by other callers: the code they run is compiled, and
    // its growth is not counted as the callers'.
    log('callers: warming up');
    await interleaved(warmUp, 'warm-up');
    await pass('callers', warmUp, 'warm-up-again');
    // The last token works (see above); on the shared route, so that no caller's session is made.
    await get('shared', callers[count - 1], 'auth-check');

    log(`callers: ${count} callers, each a first request, a warm one and one on the shared session`);
    const memoryBefore = await collected();
    const { first, warm, shared } = await interleaved(callers, 'first');
    const memoryAfter = await collected();
    log(`callers: ${count} callers again`);
    const again = await pass('callers', callers, 'again');
    const memoryAgain = await collected();
    // Backstage tries static tokens one by one, in the order configured (the callers' after
    // the warm-up callers'): the first callers against the last, alternating, so that the
    // load on this machine falls on both alike.
    const tokenOrder = { first: [] as number[], last: [] as number[] };
    for (let i = 0; i < TOKEN_ORDER_CALLERS; i++) {
      tokenOrder.first.push(await get('callers', callers[i], 'token-order'));
      tokenOrder.last.push(await get('callers', callers[count - 1 - i], 'token-order'));
    }
    log(`callers: ${EVICTING_MAX_CALLERS + EVICTED} callers against maxCallers ${EVICTING_MAX_CALLERS}`);
    const kept = callers.slice(0, EVICTING_MAX_CALLERS);
    const evicting = {
      fill: await pass('evicting', kept, 'fill'),
      again: await pass('evicting', kept, 'again'),
      past: await pass('evicting', callers.slice(EVICTING_MAX_CALLERS, EVICTING_MAX_CALLERS + EVICTED), 'past'),
      recent: await pass('evicting', callers.slice(EVICTED, EVICTING_MAX_CALLERS + EVICTED), 'recent'),
      evicted: await pass('evicting', callers.slice(0, EVICTED), 'evicted'),
    };
    agent.destroy();
    backend.child.kill('SIGTERM');

    // Every request signed with a session of its own caller, each caller's sessions its own.
    const bySubject = new Map([...warmUp, ...callers].map(c => [c.subject, c]));
    let foreign = 0;
    let unverified = 0;
    for (const received of upstream.received) {
      const [, route, subject] = /^\/([^/]+)\/([^/]+)\//.exec(received.url) ?? [];
      if (received.signatureError) unverified++;
      if (route === 'shared') continue;
      const session = sts.sessionOf(received.accessKeyId);
      const identity = bySubject.get(subject)?.identity;
      if (!identity || session?.roleSessionName !== identity || session.sourceIdentity !== identity) foreign++;
    }

    // The report.
    const fmt = (x: number) => {
      if (!Number.isFinite(x)) return '—';
      if (Math.abs(x) >= 100) return x.toFixed(0);
      return Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
    };
    type Measured = Awaited<ReturnType<typeof collected>>;
    const perCaller = (key: keyof Measured, after = memoryAfter, before = memoryBefore) =>
      (after[key] - before[key]) / count;
    /** figure, unit, ours, baseline, ratio, target, met */
    const rows: [string, string, string, string, string, string?, boolean?][] = [];
    const compare = (label: string, unit: string, ours: number, baseline: number) =>
      rows.push([label, unit, fmt(ours), fmt(baseline), (ours / baseline).toFixed(2)]);
    const exactly = (label: string, value: number, expected: number) =>
      rows.push([label, 'calls', String(value), '', '', `= ${expected}`, value === expected]);
    exactly(`AssumeRole calls, first request of each of ${count} callers`, first.assumeRoles, count);
    exactly('AssumeRole calls, their second requests (right after) and the shared session', warm.assumeRoles + shared.assumeRoles, 0);
    exactly(`AssumeRole calls, a second pass over the ${count} callers`, again.assumeRoles, 0);
    compare('request latency p50, first request of a caller over a warm one', 'ms', percentile(first.latencies, 0.5), percentile(warm.latencies, 0.5));
    compare('request latency p99, first request of a caller over a warm one', 'ms', percentile(first.latencies, 0.99), percentile(warm.latencies, 0.99));
    compare('request latency p50, warm, session per caller over one shared session', 'ms', percentile(warm.latencies, 0.5), percentile(shared.latencies, 0.5));
    compare('request latency p99, warm, session per caller over one shared session', 'ms', percentile(warm.latencies, 0.99), percentile(shared.latencies, 0.99));
    compare(
      `request latency p50, warm, the last ${TOKEN_ORDER_CALLERS} callers over the first ${TOKEN_ORDER_CALLERS} (tokens checked last)`,
      'ms',
      percentile(tokenOrder.last, 0.5),
      percentile(tokenOrder.first, 0.5),
    );
    rows.push(['backend V8 heap used per caller, after a full GC, compiled code left out', 'bytes', fmt(perCaller('data')), '', '']);
    rows.push(['backend V8 heap used per caller, after a full GC, with compiled code', 'bytes', fmt(perCaller('heapUsed')), '', '']);
    rows.push(['backend buffers per caller, after a full GC', 'bytes', fmt(perCaller('arrayBuffers')), '', '']);
    rows.push(['backend V8 heap used per request of the second pass (no new session), code left out', 'bytes', fmt(perCaller('data', memoryAgain, memoryAfter)), '', '']);
    const bounded = `AssumeRole calls, maxCallers ${EVICTING_MAX_CALLERS}:`;
    exactly(`${bounded} ${EVICTING_MAX_CALLERS} callers`, evicting.fill.assumeRoles, EVICTING_MAX_CALLERS);
    exactly(`${bounded} the same ${EVICTING_MAX_CALLERS} again`, evicting.again.assumeRoles, 0);
    exactly(`${bounded} ${EVICTED} more callers (the ${EVICTED} least recent dropped)`, evicting.past.assumeRoles, EVICTED);
    exactly(`${bounded} the ${EVICTING_MAX_CALLERS} most recent again`, evicting.recent.assumeRoles, 0);
    exactly(`${bounded} the ${EVICTED} dropped callers again`, evicting.evicted.assumeRoles, EVICTED);
    rows.push([
      "requests signed with another caller's session / rejected by the upstream",
      'count',
      `${foreign} / ${unverified}`,
      '',
      '',
      '= 0 / 0',
      foreign === 0 && unverified === 0,
    ]);

    const header = ['figure', 'unit', 'ours', 'baseline', 'ours/baseline', 'target', 'met'];
    const met = (goal?: string, ok?: boolean) => {
      if (!goal) return '';
      return ok ? 'yes' : 'NO';
    };
    const table = rows.map(([label, unit, ours, baseline, ratio, goal, ok]) => [
      label,
      unit,
      ours,
      baseline,
      ratio,
      goal ?? '',
      met(goal, ok),
    ]);
    const targets = rows.filter(r => r[5]);
    const missed = targets.filter(r => !r[6]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map(r => r[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
    return [
      '',
      `Callers: ${count} distinct Backstage callers (static access tokens) against one sessionPerCaller route, one request at a time; local STS with ${TOKEN_BYTES}-byte session tokens, answering at once. Each caller's first request, then at once a warm one, then one on a route with one shared session (the baselines). Memory: the backend's after a full GC, after those requests over before them, per caller.`,
      '',
      line(header),
      `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`,
      ...table.map(line),
      '',
      // The counts do not depend on timing: they are judged in a quick run too.
      `Callers targets met: ${targets.length - missed.length} of ${targets.length}.${missed.map(r => `\n  missed: ${r[0]}: ${r[2]}, target ${r[5]}`).join('')}`,
      '',
    ].join('\n');
  } finally {
    await upstream.close();
    await sts.close();
  }
}

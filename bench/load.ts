/*
 * The load test of issue 5, the benchmark's `load` figure: 64 concurrent clients for 60 s
 * (`--quick`: 8 s) through a mix of small GETs, streamed downloads, signed uploads (chunk-signed
 * as they stream, above 64 KiB; issue 17) and streamed (unsigned-payload) uploads, while the
 * credentials rotate every few seconds.
 *
 * Its own processes on loopback, started fresh: a real Backstage backend with this plugin
 * (bench/backend.ts), and bench/loadUpstream.ts, a credentials endpoint that hands out a new
 * key on every call with an expiry LIFETIME_MS out, and an upstream that checks every
 * signature against those keys and rejects a key once it has expired. Only ours runs: the
 * unsigned baseline cannot sign, so there is nothing to set beside it.
 *
 * Counted: every error, by kind (non-2xx, socket error, timeout, short or wrong body,
 * signature rejected by the upstream); the distinct keys used; the backend's open sockets
 * and the upstream's open connections before the load (after a warm-up, once idle) and after
 * it (clients gone, once idle); the backend's RSS, after a full GC before and after, sampled
 * during the run for its peak and for the drift between its first and its last part.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';
import { backendConfigYaml, freePort } from '../localAws';
import {
  ask,
  collectedMemory,
  cpuTime,
  heapNow,
  Memory,
  rss,
  startProcess,
} from './processes';
import { median, MiB } from './measure';
import { PatternChecker, patternChunk } from './pattern';

const log = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms));

/** How long each key the endpoint hands out is accepted: the plugin refreshes at a third. */
const LIFETIME_MS = 6000;
const CLIENTS = 64;
/** The longest a backend or the upstream may hold an idle connection: theirs is 4 s and 5 s. */
const SETTLE_MAX_MS = 10_000;
/** Allowed RSS growth (after a full GC) over the run, and from its first part to its last. */
const RSS_DRIFT_MiB = 16;

type Kind = 'small' | 'download' | 'signed upload' | 'streamed upload';
const KINDS: Kind[] = ['small', 'download', 'signed upload', 'streamed upload'];
const LABELS: Record<Kind, string> = {
  small: 'small GET',
  download: 'streamed download, 4-16 MiB',
  'signed upload': 'signed upload, 64 KiB-1 MiB',
  'streamed upload': 'streamed upload, 8 MiB, unsigned payload',
};
/** Of every 100 requests a client makes. */
const MIX: [Kind, number][] = [
  ['small', 94],
  ['download', 3],
  ['signed upload', 2],
  ['streamed upload', 1],
];
const TIMEOUT_MS: Record<Kind, number> = {
  small: 10_000,
  download: 20_000,
  'signed upload': 20_000,
  'streamed upload': 20_000,
};

/** A small seeded generator (mulberry32): each client's mix is the same from run to run. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tally {
  ok: Record<Kind, number>;
  latencies: Record<Kind, number[]>;
  /** `kind: reason` → count. */
  errors: Map<string, number>;
  examples: Map<string, string>;
}
const tally = (): Tally => ({
  ok: { small: 0, download: 0, 'signed upload': 0, 'streamed upload': 0 },
  latencies: { small: [], download: [], 'signed upload': [], 'streamed upload': [] },
  errors: new Map(),
  examples: new Map(),
});

/**
 * One request of a kind; resolves with undefined when it went right, else why not (never
 * rejects). Bodies are checked against the seeded pattern, uploads are streamed from it.
 */
function one(
  base: string,
  kind: Kind,
  size: number,
  seed: number,
  agent: http.Agent,
  headers: http.OutgoingHttpHeaders,
): Promise<{ error?: string; detail?: string }> {
  let url = `${base}/api/small`;
  if (kind === 'download') url = `${base}/bucket/bytes/${seed}/${size}`;
  if (kind === 'signed upload') url = `${base}/signed/upload/${seed}`;
  if (kind === 'streamed upload') url = `${base}/bucket/upload/${seed}`;
  const upload = kind === 'signed upload' || kind === 'streamed upload';
  return new Promise(resolve => {
    let done = false;
    /** The request's deadline, set below; cleared when it is over. */
    const deadline: { timer?: NodeJS.Timeout } = {};
    const finish = (error?: string, detail?: string) => {
      if (done) return;
      done = true;
      clearTimeout(deadline.timer);
      resolve({ error, detail });
    };
    const req = http.request(url, {
      method: upload ? 'PUT' : 'GET',
      headers: { ...headers, ...(upload ? { 'content-length': size } : {}) },
      agent,
    });
    deadline.timer = setTimeout(() => {
      finish('timeout', `no complete answer in ${TIMEOUT_MS[kind]} ms`);
      req.destroy();
    }, TIMEOUT_MS[kind]);
    req.on('error', (e: NodeJS.ErrnoException) => finish(`socket error ${e.code ?? ''}`.trim(), e.message));
    req.on('response', res => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      const checker = kind === 'download' && status === 200 ? new PatternChecker(seed) : undefined;
      res.on('data', (c: Buffer) => {
        if (checker) checker.update(c);
        else chunks.push(c);
      });
      res.on('error', (e: NodeJS.ErrnoException) => finish(`socket error ${e.code ?? ''}`.trim(), e.message));
      res.on('aborted', () => finish('body cut short', `${kind} aborted mid-body`));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (status < 200 || status > 299) {
          finish(`HTTP ${status}`, text.slice(0, 300));
        } else if (checker) {
          if (checker.length !== size) finish('short body', `${checker.length} of ${size} bytes`);
          else if (checker.mismatchAt !== undefined) finish('wrong body', `mismatch at byte ${checker.mismatchAt}`);
          else finish();
        } else if (kind === 'small') {
          let id: unknown;
          try {
            id = JSON.parse(text).id;
          } catch {
            id = undefined;
          }
          if (id === 'item-0001') finish();
          else finish('wrong body', text.slice(0, 100));
        } else {
          let bytes: unknown;
          try {
            bytes = JSON.parse(text).bytes;
          } catch {
            bytes = undefined;
          }
          if (bytes === size) finish();
          else finish('wrong body', `upstream received ${bytes} of ${size} bytes`);
        }
      });
    });
    if (!upload) {
      req.end();
      return;
    }
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const chunk = patternChunk(seed, sent, Math.min(64 * 1024, size - sent));
        sent += chunk.length;
        if (!req.write(chunk) && sent < size) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** 64 clients, each on its own keep-alive connection, making requests until `seconds` pass. */
async function drive(
  base: string,
  headers: http.OutgoingHttpHeaders,
  seconds: number,
  seedBase: number,
): Promise<{ tally: Tally; elapsed: number }> {
  const result = tally();
  const started = performance.now();
  const until = started + seconds * 1000;
  const agents = Array.from({ length: CLIENTS }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  let seed = seedBase;
  const client = async (index: number) => {
    const next = random(seedBase + index);
    const agent = agents[index];
    while (performance.now() < until) {
      const roll = next() * 100;
      let kind: Kind = 'small';
      let cumulative = 0;
      for (const [k, weight] of MIX) {
        cumulative += weight;
        if (roll < cumulative) {
          kind = k;
          break;
        }
      }
      let size = 0;
      if (kind === 'download') size = Math.round((4 + 12 * next()) * MiB);
      if (kind === 'signed upload') size = Math.round((1 / 16 + (15 / 16) * next()) * MiB);
      if (kind === 'streamed upload') size = 8 * MiB;
      const t0 = performance.now();
      seed += 1;
      const { error, detail } = await one(base, kind, size, seed, agent, headers);
      if (error) {
        const key = `${LABELS[kind]}: ${error}`;
        result.errors.set(key, (result.errors.get(key) ?? 0) + 1);
        if (!result.examples.has(key) && detail) result.examples.set(key, detail);
      } else {
        result.ok[kind] += 1;
        result.latencies[kind].push(performance.now() - t0);
      }
    }
  };
  await Promise.all(agents.map((_, i) => client(i)));
  const elapsed = (performance.now() - started) / 1000;
  // The clients close their connections.
  for (const agent of agents) agent.destroy();
  return { tally: result, elapsed };
}

/**
 * The resident memory of the C allocator's main heap (the `[heap]` mapping in smaps, grown
 * with brk): memory freed by the process that glibc keeps for reuse shows here. Linux; MiB.
 */
function nativeHeap(pid: number): number {
  let kb = 0;
  let inHeap = false;
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ /.test(line);
    if (head) inHeap = line.endsWith('[heap]');
    else if (inHeap && line.startsWith('Rss:')) kb += Number(/(\d+)/.exec(line)?.[1] ?? 0);
  }
  return kb / 1024;
}

/** A process's open sockets, from /proc (Linux): all of them, and its TCP ones by peer. */
interface Sockets {
  /** Every socket file descriptor: TCP, listening or not, and Unix (the IPC channel). */
  total: number;
  /** Connected TCP sockets (not listening), by what is at the other end. */
  clients: number;
  upstream: number;
  endpoint: number;
  other: number;
}

function socketsOf(pid: number, ports: { own: number; upstream: number; endpoint: number }): Sockets {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    let link = '';
    try {
      link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]);
  }
  const result: Sockets = { total: inodes.size, clients: 0, upstream: 0, endpoint: 0, other: 0 };
  for (const table of ['tcp', 'tcp6']) {
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]) || f[3] === '0A') continue; // not ours, or listening
      const local = parseInt(f[1].split(':')[1], 16);
      const remote = parseInt(f[2].split(':')[1], 16);
      if (local === ports.own) result.clients++;
      else if (remote === ports.upstream) result.upstream++;
      else if (remote === ports.endpoint) result.endpoint++;
      else result.other++;
    }
  }
  return result;
}

interface UpstreamStats {
  keysIssued: number;
  keysUsed: number;
  verified: Record<string, number>;
  rejected: Record<string, Record<string, number>>;
  examples: Record<string, string>;
  upstreamOpen: number;
  endpointOpen: number;
}

export interface LoadOptions {
  quick: boolean;
  /** Where to write the backend's configuration. */
  dir: string;
  token: string;
  /** Node options for the backend (a CPU profile). */
  nodeOptions?: string[];
}

/** Runs the load figure and renders its table (Markdown). */
export async function runLoad(options: LoadOptions): Promise<string> {
  const { quick, dir, token } = options;
  const seconds = quick ? 8 : 60;
  const warmup = quick ? 2 : 5;
  const headers = { authorization: `Bearer ${token}` };

  const other = await startProcess('load upstream', ['bench/loadUpstream.ts', String(LIFETIME_MS)]);
  const up = { upstream: other.ready.upstream as number, endpoint: other.ready.endpoint as number };
  const port = await freePort();
  const credentialsEndpoint = `{ url: 'http://127.0.0.1:${up.endpoint}/credentials' }`;
  const yaml = `${backendConfigYaml(port, token, 'bench')}proxysigv4:
  checkCredentialsOnStart: false
  '/api': { target: 'http://127.0.0.1:${up.upstream}/api', service: execute-api, region: eu-west-1, credentialsEndpoint: ${credentialsEndpoint} }
  '/bucket': { target: 'http://127.0.0.1:${up.upstream}/bucket', service: s3, region: us-east-1, unsignedPayload: true, credentialsEndpoint: ${credentialsEndpoint} }
  '/signed': { target: 'http://127.0.0.1:${up.upstream}/signed', service: s3, region: us-east-1, credentialsEndpoint: ${credentialsEndpoint} }
`;
  const configFile = path.join(dir, 'load.yaml');
  fs.writeFileSync(configFile, yaml);
  const backend = await startProcess(
    'load backend',
    ['bench/backend.ts', 'ours', '--config', configFile],
    { LOG_LEVEL: 'warn', NODE_ENV: 'production' },
    options.nodeOptions,
  );
  const pid = backend.child.pid!;
  // What the backend logs at warn or error level during the load (its logs are JSON lines).
  const logged = { count: 0, examples: [] as string[], counting: false };
  const onLog = (text: string) => {
    let level: unknown;
    try {
      level = JSON.parse(text).level;
    } catch {
      return; // not a log line
    }
    if (logged.counting && (level === 'warn' || level === 'error')) {
      logged.count += 1;
      if (logged.examples.length < 3) logged.examples.push(text.slice(0, 400));
    }
  };
  readline.createInterface({ input: backend.child.stdout! }).on('line', onLog);
  readline.createInterface({ input: backend.child.stderr! }).on('line', onLog);
  const base = `http://127.0.0.1:${port}/api/proxy-sigv4`;
  const ports = { own: port, ...up };
  const sockets = () => socketsOf(pid, ports);
  const connected = (s: Sockets) => s.clients + s.upstream + s.endpoint + s.other;

  /** Waits until the backend holds no connection and the upstream none either, or SETTLE_MAX_MS. */
  const settle = async () => {
    const started = performance.now();
    for (;;) {
      const s = sockets();
      const u = await ask<UpstreamStats>(other.child, 'stats', 'stats');
      const waited = performance.now() - started;
      if ((connected(s) === 0 && u.upstreamOpen === 0 && u.endpointOpen === 0) || waited >= SETTLE_MAX_MS) {
        return { sockets: s, upstream: u, waited };
      }
      await sleep(250);
    }
  };

  /**
   * The backend's memory after a full GC, its RSS read from /proc a moment later: V8 gives
   * the pages it freed back to the OS in the background, so the RSS the process reports
   * right after its GC is a few MiB higher than where it settles (9 MiB in one quick run).
   */
  const collected = async (): Promise<Memory> => {
    const memory = await collectedMemory(backend.child);
    await sleep(250);
    return { ...memory, rss: rss(pid) };
  };

  log(`load: warming up, ${CLIENTS} clients for ${warmup} s`);
  const warm = await drive(base, headers, warmup, 1_000_000);
  const before = await settle();
  const memoryBefore = await collected();
  const nativeBefore = nativeHeap(pid);
  await ask(other.child, 'reset', 'reset');

  log(`load: ${CLIENTS} clients for ${seconds} s, credentials rotating (${LIFETIME_MS / 1000} s lifetime)`);
  const samples: { t: number; rss: number }[] = [];
  /** The backend's V8 heap and buffers as they are (no GC), once a second. */
  const heapSamples: { t: number; heapTotal: number; arrayBuffers: number }[] = [];
  let peakConnections = 0;
  const started = performance.now();
  const sampler = setInterval(() => {
    samples.push({ t: (performance.now() - started) / 1000, rss: rss(pid) });
  }, 100);
  const heapSampler = setInterval(() => {
    const t = (performance.now() - started) / 1000;
    heapNow(backend.child).then(
      heap => heapSamples.push({ t, heapTotal: heap.heapTotal, arrayBuffers: heap.arrayBuffers }),
      () => {},
    );
  }, 1000);
  const socketSampler = setInterval(() => {
    peakConnections = Math.max(peakConnections, connected(sockets()));
  }, 1000);
  logged.counting = true;
  const cpuBefore = { backend: cpuTime(pid), upstream: cpuTime(other.child.pid!), clients: process.cpuUsage() };
  let run: Awaited<ReturnType<typeof drive>>;
  try {
    run = await drive(base, headers, seconds, 0);
  } finally {
    clearInterval(sampler);
    clearInterval(heapSampler);
    clearInterval(socketSampler);
  }
  const clientsCpu = process.cpuUsage(cpuBefore.clients);
  /** CPU used during the load, in cores (1 = one core busy all the time). */
  const cores = {
    backend: (cpuTime(pid) - cpuBefore.backend) / 1000 / run.elapsed,
    upstream: (cpuTime(other.child.pid!) - cpuBefore.upstream) / 1000 / run.elapsed,
    clients: (clientsCpu.user + clientsCpu.system) / 1e6 / run.elapsed,
  };
  const after = await settle();
  logged.counting = false;
  const memoryAfter = await collected();
  const nativeAfter = nativeHeap(pid);
  const stats = after.upstream;
  backend.child.kill('SIGTERM');
  other.child.kill('SIGTERM');

  // The report.
  const rows: [string, string, string, string?, boolean?][] = [];
  const fmt = (x: number) => {
    if (!Number.isFinite(x)) return '—';
    if (Math.abs(x) >= 100) return x.toFixed(0);
    return Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);
  };
  const p = (xs: number[], q: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
  };
  const errorsOf = (kind: Kind) =>
    [...run.tally.errors.entries()].filter(([k]) => k.startsWith(`${LABELS[kind]}:`)).reduce((n, [, c]) => n + c, 0);
  const rejectedOf = (kind: Kind) => Object.values(stats.rejected[kind] ?? {}).reduce((n, c) => n + c, 0);
  for (const kind of KINDS) {
    rows.push([`${LABELS[kind]}: requests/s`, 'req/s', fmt(run.tally.ok[kind] / run.elapsed)]);
    rows.push([`${LABELS[kind]}: p50 / p99 latency`, 'ms', `${fmt(p(run.tally.latencies[kind], 0.5))} / ${fmt(p(run.tally.latencies[kind], 0.99))}`]);
    rows.push([`${LABELS[kind]}: errors, seen by the clients / rejected by the upstream`, 'count', `${errorsOf(kind)} / ${rejectedOf(kind)}`]);
  }
  const totalOk = KINDS.reduce((n, k) => n + run.tally.ok[k], 0);
  const clientErrors = KINDS.reduce((n, k) => n + errorsOf(k), 0);
  const rejections = Object.values(stats.rejected).reduce(
    (n, byReason) => n + Object.values(byReason).reduce((m, c) => m + c, 0),
    0,
  );
  rows.push(['all kinds: requests/s', 'req/s', fmt(totalOk / run.elapsed)]);
  rows.push(['CPU used: backend / upstream and endpoint / clients', 'cores', `${fmt(cores.backend)} / ${fmt(cores.upstream)} / ${fmt(cores.clients)}`]);
  rows.push(['errors seen by the clients (non-2xx, socket, timeout, short or wrong body)', 'count', String(clientErrors), '= 0', clientErrors === 0]);
  rows.push(['requests rejected by the upstream (signature, expired or unknown key, body)', 'count', String(rejections), '= 0', rejections === 0]);
  rows.push(['backend log lines at warn or error level', 'lines', String(logged.count)]);
  rows.push(['distinct access keys used (issued by the endpoint)', 'keys', `${stats.keysUsed} (${stats.keysIssued})`]);
  const s = (x: Sockets) => `${x.total} (${connected(x)} connected)`;
  rows.push(['backend sockets before the load (idle after warm-up)', 'fds', s(before.sockets)]);
  rows.push(['backend sockets after the load (idle, clients gone)', 'fds', s(after.sockets), '≤ before', after.sockets.total <= before.sockets.total && connected(after.sockets) <= connected(before.sockets)]);
  rows.push(['backend TCP connections during the load, largest', 'conns', String(peakConnections)]);
  rows.push(['upstream and endpoint open connections before / after', 'conns', `${before.upstream.upstreamOpen + before.upstream.endpointOpen} / ${stats.upstreamOpen + stats.endpointOpen}`, '≤ before', stats.upstreamOpen + stats.endpointOpen <= before.upstream.upstreamOpen + before.upstream.endpointOpen]);
  rows.push(['time to idle after the load', 's', fmt(after.waited / 1000)]);
  const drift = (memoryAfter.rss - memoryBefore.rss) / MiB;
  const peak = Math.max(...samples.map(x => x.rss), 0) / MiB;
  const window = seconds / 6;
  const between = (from: number, to: number) => median(samples.filter(x => x.t >= from && x.t < to).map(x => x.rss)) / MiB;
  const early = between(window, 2 * window);
  const late = between(5 * window, 6 * window + 1);
  rows.push(['backend RSS after warm-up, after a full GC', 'MiB', fmt(memoryBefore.rss / MiB)]);
  rows.push(['backend RSS after the load, after a full GC', 'MiB', fmt(memoryAfter.rss / MiB)]);
  rows.push(['backend RSS drift over the load, after a full GC', 'MiB', fmt(drift), `≤ ${RSS_DRIFT_MiB}`, drift <= RSS_DRIFT_MiB]);
  rows.push(['backend RSS during the load, largest', 'MiB', fmt(peak)]);
  rows.push([
    `backend RSS, median of ${fmt(5 * window)}-${fmt(6 * window)} s over ${fmt(window)}-${fmt(2 * window)} s`,
    'MiB',
    `${fmt(late - early)} (${fmt(early)} → ${fmt(late)})`,
    `≤ ${RSS_DRIFT_MiB}`,
    late - early <= RSS_DRIFT_MiB,
  ]);
  const timeline = Array.from({ length: 6 }, (_, i) => fmt(between(i * window, (i + 1) * window + (i === 5 ? 1 : 0))));
  rows.push([`backend RSS during the load, median of each ${fmt(window)} s`, 'MiB', timeline.join(', ')]);
  const heapBetween = (key: 'heapTotal' | 'arrayBuffers', i: number) =>
    fmt(median(heapSamples.filter(x => x.t >= i * window && x.t < (i + 1) * window + (i === 5 ? 1 : 0)).map(x => x[key])) / MiB);
  rows.push([`backend V8 heap reserved during the load (no GC), median of each ${fmt(window)} s`, 'MiB', Array.from({ length: 6 }, (_, i) => heapBetween('heapTotal', i)).join(', ')]);
  rows.push([`backend buffers during the load (no GC), median of each ${fmt(window)} s`, 'MiB', Array.from({ length: 6 }, (_, i) => heapBetween('arrayBuffers', i)).join(', ')]);
  rows.push(['backend heap used after a full GC, before → after', 'MiB', `${fmt(memoryBefore.heapUsed / MiB)} → ${fmt(memoryAfter.heapUsed / MiB)}`]);
  rows.push(['backend heap reserved after a full GC, before → after', 'MiB', `${fmt(memoryBefore.heapTotal / MiB)} → ${fmt(memoryAfter.heapTotal / MiB)}`]);
  rows.push(['backend buffers after a full GC, before → after', 'MiB', `${fmt(memoryBefore.arrayBuffers / MiB)} → ${fmt(memoryAfter.arrayBuffers / MiB)}`]);
  rows.push(['backend C allocator heap ([heap] in smaps) after a full GC, before → after', 'MiB', `${fmt(nativeBefore)} → ${fmt(nativeAfter)}`]);

  const judge = !quick;
  const met = (target?: string, ok?: boolean) => {
    if (!target || !judge) return '';
    return ok ? 'yes' : 'NO';
  };
  const header = ['figure', 'unit', 'ours', 'target', 'met'];
  const table = rows.map(([label, unit, value, target, ok]) => [
    label,
    unit,
    value,
    target ?? '',
    met(target, ok),
  ]);
  const targets = rows.filter(r => r[3]);
  const missed = targets.filter(r => !r[4]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map(r => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const details: string[] = [];
  for (const [key, count] of run.tally.errors) {
    details.push(`  client error: ${key} ×${count}${run.tally.examples.has(key) ? ` (${run.tally.examples.get(key)})` : ''}`);
  }
  for (const [kind, byReason] of Object.entries(stats.rejected)) {
    for (const [reason, count] of Object.entries(byReason)) {
      details.push(`  upstream rejected: ${kind}: ${reason} ×${count} (${stats.examples[`${kind}: ${reason}`] ?? ''})`);
    }
  }
  for (const example of logged.examples) details.push(`  backend logged: ${example}`);
  const warmErrors =
    [...warm.tally.errors.values()].reduce((n, c) => n + c, 0) +
    Object.values(before.upstream.rejected).reduce(
      (n, byReason) => n + Object.values(byReason).reduce((m, c) => m + c, 0),
      0,
    );
  return [
    '',
    `Load: ${CLIENTS} clients for ${seconds} s (after ${warmup} s of warm-up), ${MIX.map(([k, w]) => `${w} % ${LABELS[k]}`).join(', ')}; credentials from a local endpoint, a new key per call valid ${LIFETIME_MS / 1000} s, each request's signature checked by the upstream. Only ours: the unsigned baseline cannot sign, so there is nothing to compare it with.`,
    '',
    line(header),
    `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`,
    ...table.map(line),
    '',
    ...details,
    ...(warmErrors ? [`  errors during the warm-up (not counted above): ${warmErrors}`] : []),
    judge
      ? `Load targets met: ${targets.length - missed.length} of ${targets.length}.${missed.map(r => `\n  missed: ${r[0]}: ${r[2]}, target ${r[3]}`).join('')}`
      : 'A quick load run is too short to judge the targets by: run `npm run bench -- --only load`.',
    '',
  ].join('\n');
}

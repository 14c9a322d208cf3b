/*
 * `npm run bench [-- --quick] [-- --only small,download,...] [-- --cpu-prof <dir>]`:
 * the side-by-side benchmark.
 *
 * Starts, as separate processes on loopback: the upstream (bench/upstream.ts, HTTP and HTTPS
 * with a certificate made now), a bare Node.js pipe proxy (bench/nodeProxy.ts, the runtime's
 * floor), a real Backstage backend with this plugin and one with
 * @backstage/plugin-proxy-backend (the unsigned baseline), both from bench/backend.ts. Then
 * measures each in turn, interleaved round by round (baseline and ours swap places each
 * round), and prints one table with ours/baseline ratios and the targets of issue 4; and
 * of issue 17: 8 MiB and 1 GiB signed uploads, which ours now streams chunk-signed, and the
 * 1 GiB download through a presigned redirect (figure `presign`, ours only: the bytes go
 * from the upstream to the client, past the backend), set beside the proxied one.
 * `--quick` runs a little of each (CI's smoke check); its figures are too short to judge
 * the targets by.
 *
 * Then the load test of issue 5 (bench/load.ts, figure `load`), with processes of its own:
 * ours alone under a mixed load while its credentials rotate; a table of its own. Then the
 * callers of issue 15 (bench/callers.ts, figure `callers`): many distinct callers against a
 * session-per-caller route; a table of its own.
 */
import { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import selfsigned from 'selfsigned';
import { measureSigning } from './signing';
import { backendConfigYaml, freePort } from '../localAws';
import { collectedMemory, cpuTime, ioBytes, startProcess, stopAll } from './processes';
import { getJson, MiB, postJson, redirectOf, transfer, withMemory } from './measure';
import { Report, System, SYSTEMS } from './report';
import { runLoad } from './load';
import { runCallers } from './callers';

const argument = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] ?? '' : undefined;
};
const QUICK = process.argv.includes('--quick');
const FIGURES = ['small', 'download', 'presign', 'upload', 'signed', 'connections', 'signing', 'load', 'callers'] as const;
type Figure = (typeof FIGURES)[number];
/** `--only small,download`: only these figures (to profile one of them). */
const ONLY = argument('--only')?.split(',');
/** `presign` brings `download` with it: the presigned download is read beside the proxied one. */
const runs = (figure: Figure) =>
  !ONLY || ONLY.includes(figure) || (figure === 'download' && ONLY.includes('presign'));
/** `--cpu-prof <dir>`: the backends write V8 CPU profiles there as they stop. */
const CPU_PROF = argument('--cpu-prof');

const SETTINGS = QUICK
  ? { rounds: 1, seconds: 2, warmup: 1, download: 64 * MiB, upload: 64 * MiB, signedUploads: 8, sequential: 200, signings: 20_000 }
  : { rounds: 3, seconds: 10, warmup: 3, download: 1024 * MiB, upload: 1024 * MiB, signedUploads: 40, sequential: 1000, signings: 200_000 };
const TOKEN = 'bench-token-for-local-use-only';
const AUTH = { authorization: `Bearer ${TOKEN}` };
type Route = 'http' | 'https' | 'stream' | 'signed';

const log = (s: string) => process.stderr.write(`${s}\n`);

async function main() {
  const unknown = (ONLY ?? []).filter(f => !FIGURES.includes(f as Figure));
  if (unknown.length) {
    throw new Error(`--only: unknown figure(s) ${unknown.join(', ')}; known: ${FIGURES.join(', ')}`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-sigv4-bench-'));
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  fs.writeFileSync(certFile, pems.cert);
  fs.writeFileSync(keyFile, pems.private);

  log(`bench: ${QUICK ? 'quick' : 'full'} run, ${os.cpus().length} CPUs, Node ${process.version}`);

  // The side-by-side figures, unless only the load test or the callers were asked for; then
  // the load test, then the callers.
  if (FIGURES.some(figure => figure !== 'load' && figure !== 'callers' && runs(figure))) {
    process.stdout.write(await sideBySide(dir, certFile, keyFile, pems.cert));
  }
  if (runs('load')) {
    process.stdout.write(
      await runLoad({ quick: QUICK, dir, token: TOKEN, nodeOptions: profile('load') }),
    );
  }
  if (runs('callers')) {
    process.stdout.write(await runCallers({ quick: QUICK, dir, nodeOptions: profile('callers') }));
  }
}

// One folder per backend: each thread (the module loader's too) writes its own profile.
function profile(name: string) {
  return CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(CPU_PROF, name)}`] : [];
}

/** The figures that set ours beside the upstream, the Node pipe and the baseline: one table. */
async function sideBySide(dir: string, certFile: string, keyFile: string, cert: string): Promise<string> {
  const upstream = await startProcess('upstream', ['bench/upstream.ts', certFile, keyFile]);
  const up = { http: upstream.ready.http as number, https: upstream.ready.https as number };
  const ports = { ours: await freePort(), baseline: await freePort() };

  const backendConfig = (port: number) => backendConfigYaml(port, TOKEN, 'bench');
  const oursYaml = `${backendConfig(ports.ours)}
aws:
  mainAccount: { accessKeyId: AKIDBENCHMARK, secretAccessKey: bench-secret-access-key }
proxysigv4:
  checkCredentialsOnStart: false
  '/http': { target: 'http://127.0.0.1:${up.http}/api', service: execute-api, region: eu-west-1 }
  '/https': { target: 'https://localhost:${up.https}/api', service: execute-api, region: eu-west-1 }
  '/stream': { target: 'http://127.0.0.1:${up.http}/bucket', service: s3, region: us-east-1, unsignedPayload: true, timeout: 600000, presign: true }
  '/signed': { target: 'http://127.0.0.1:${up.http}/bucket', service: s3, region: us-east-1, maxBodySize: 16777216, maxUploadSize: 2147483648 }
`;
  const baselineYaml = `${backendConfig(ports.baseline)}
proxy:
  endpoints:
    '/http': { target: 'http://127.0.0.1:${up.http}/api', credentials: require }
    '/https': { target: 'https://localhost:${up.https}/api', credentials: require }
    '/stream': { target: 'http://127.0.0.1:${up.http}/bucket', credentials: require }
    '/signed': { target: 'http://127.0.0.1:${up.http}/bucket', credentials: require }
`;
  fs.writeFileSync(path.join(dir, 'ours.yaml'), oursYaml);
  fs.writeFileSync(path.join(dir, 'baseline.yaml'), baselineYaml);
  const backendEnv = { NODE_EXTRA_CA_CERTS: certFile, LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  const start = (name: 'ours' | 'baseline') =>
    startProcess(name, ['bench/backend.ts', name, '--config', path.join(dir, `${name}.yaml`)], backendEnv, profile(name));
  const [ours, baseline, node] = await Promise.all([
    start('ours'),
    start('baseline'),
    startProcess('node', ['bench/nodeProxy.ts', String(up.http), String(up.https)], backendEnv),
  ]);
  const child: Record<System, ChildProcess | undefined> = {
    direct: undefined,
    node: node.child,
    baseline: baseline.child,
    ours: ours.child,
  };
  /** The order of one round: baseline and ours swap places, so that neither always goes first. */
  const order = (round: number): System[] =>
    round % 2 ? ['direct', 'node', 'baseline', 'ours'] : ['direct', 'node', 'ours', 'baseline'];

  /** Where each system serves a route: the upstream itself, or a proxy's route. */
  const base = (system: System, route: Route) => {
    switch (system) {
      case 'direct':
        if (route === 'https') return `https://localhost:${up.https}/api`;
        return `http://127.0.0.1:${up.http}/${route === 'http' ? 'api' : 'bucket'}`;
      case 'node':
        return `http://127.0.0.1:${node.ready.port}/${route}`;
      case 'ours':
        return `http://127.0.0.1:${ports.ours}/api/proxy-sigv4/${route}`;
      default:
        return `http://127.0.0.1:${ports.baseline}/api/proxy/${route}`;
    }
  };
  const headers = (system: System) => (system === 'ours' || system === 'baseline' ? AUTH : {});

  // Sanity: every system answers every route before anything is measured.
  for (const system of SYSTEMS) {
    for (const route of ['http', 'https'] as const) {
      const r = await transfer(`${base(system, route)}/small`, { headers: headers(system), ca: cert });
      if (r.status !== 200) throw new Error(`${system} ${route}: GET small answered ${r.status}`);
    }
  }

  // Sanity: ours hands out a presigned GET, in both forms, that the upstream answers.
  const presignBase = `http://127.0.0.1:${ports.ours}/api/proxy-sigv4/_presign/stream`;
  if (runs('presign')) {
    const location = await presignedUrl(`${presignBase}/small`, `http://127.0.0.1:${up.http}/bucket/small?`);
    const posted = await postJson(`http://127.0.0.1:${ports.ours}/api/proxy-sigv4/_presign`, {
      route: '/stream',
      path: '/small',
      method: 'GET',
      expiresIn: 60,
    }, AUTH);
    for (const url of [location, posted.url]) {
      const r = await transfer(url, {});
      if (r.status !== 200) throw new Error(`presigned GET ${url.split('?')[0]} answered ${r.status}`);
    }
  }

  const report = new Report();
  const smallGets = (system: System, route: 'http' | 'https', seconds: number) =>
    autocannon({ url: `${base(system, route)}/small`, connections: 32, duration: seconds, headers: headers(system) });
  /** The proxy process's CPU time (ms) and bytes read and written while `work` runs (NaN for direct). */
  const processCost = async <T>(system: System, work: () => Promise<T>) => {
    const pid = child[system]?.pid;
    const before = pid ? { cpu: cpuTime(pid), io: ioBytes(pid) } : undefined;
    const result = await work();
    const cpu = pid ? cpuTime(pid) - before!.cpu : NaN;
    const io = pid ? ioBytes(pid) - before!.io : NaN;
    return { result, cpu, io };
  };
  const download = async (system: System) => {
    // Costs measured inside withMemory: its full GC before the work is not the download's.
    const { result, growth } = await withMemory(child[system], () =>
      processCost(system, () => transfer(`${base(system, 'stream')}/bytes/${SETTINGS.download}`, { headers: headers(system) })),
    );
    if (result.result.bytes !== SETTINGS.download) throw new Error(`${system}: downloaded ${result.result.bytes} bytes`);
    return { ...result.result, cpu: result.cpu, io: result.io, growth };
  };
  /** Ours: GET /_presign/stream/bytes/<n>, then the 307's presigned URL, straight from the upstream. */
  const presignedDownload = () =>
    processCost('ours', async () => {
      const started = performance.now();
      const location = await presignedUrl(
        `${presignBase}/bytes/${SETTINGS.download}`,
        `http://127.0.0.1:${up.http}/bucket/bytes/${SETTINGS.download}?`,
      );
      const redirected = performance.now() - started;
      const r = await transfer(location, {});
      if (r.bytes !== SETTINGS.download) throw new Error(`presigned download: ${r.bytes} bytes`);
      return { ttfb: redirected + r.ttfb, total: performance.now() - started };
    });
  /** An upload of SETTINGS.upload bytes: unsigned payload ('stream'), or chunk-signed by ours ('signed'). */
  const upload = async (system: System, route: 'stream' | 'signed') => {
    const { result, growth } = await withMemory(child[system], () =>
      transfer(`${base(system, route)}/upload/big`, { method: 'PUT', upload: SETTINGS.upload, headers: headers(system) }),
    );
    if (result.status !== 200) throw new Error(`${system}: ${route} upload answered ${result.status}`);
    return { ...result, growth };
  };
  const downloadLabel = `${SETTINGS.download / MiB} MiB download`;
  const presignedLabel = `${downloadLabel} through a presigned redirect`;
  const uploadLabel = `${SETTINGS.upload / MiB} MiB upload (unsigned payload)`;
  const signedUploadLabel = `${SETTINGS.upload / MiB} MiB upload (chunk-signed by ours)`;

  // Warm-up, not measured: the proxies' code is compiled and their connection pools filled.
  log('warming up');
  for (const system of SYSTEMS) {
    for (const route of runs('small') ? (['http', 'https'] as const) : []) {
      await smallGets(system, route, SETTINGS.warmup);
    }
  }

  for (let round = 1; round <= SETTINGS.rounds; round++) {
    log(`round ${round}/${SETTINGS.rounds}`);
    // 1. Small GETs, 32 connections; and the proxy process's CPU time per request.
    for (const route of runs('small') ? (['http', 'https'] as const) : []) {
      for (const system of order(round)) {
        const pid = child[system]?.pid;
        const cpuBefore = pid ? cpuTime(pid) : NaN;
        const result = await smallGets(system, route, SETTINGS.seconds);
        const cpu = pid ? cpuTime(pid) - cpuBefore : NaN;
        if (result.non2xx || result.errors) {
          throw new Error(`${system} ${route}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
        }
        const label = `small GET over ${route.toUpperCase()}`;
        report.record(`${label}: requests/s`, 'req/s', system, result.requests.average, { on: 'ratio', at: 'least', value: 0.95 });
        report.record(`${label}: p50 latency`, 'ms', system, result.latency.p50);
        report.record(`${label}: p99 latency`, 'ms', system, result.latency.p99);
        report.record(`${label}: proxy CPU time per request`, 'µs', system, (cpu * 1000) / result.requests.total);
        log(`  ${system} ${route}: ${Math.round(result.requests.average)} req/s`);
      }
    }

    // 2. Streamed download.
    for (const system of runs('download') ? order(round) : []) {
      const { total, ttfb, growth, cpu, io } = await download(system);
      const size = SETTINGS.download / MiB;
      report.record(`${downloadLabel}: throughput`, 'MiB/s', system, size / (total / 1000), { on: 'ratio', at: 'least', value: 0.8 });
      report.record(`${downloadLabel}: time to first byte`, 'ms', system, ttfb, { on: 'ratio', at: 'most', value: 2 });
      report.record(`${downloadLabel}: proxy RSS growth, largest`, 'MiB', system, growth / MiB, { on: 'ours', at: 'most', value: 32 }, 'largest');
      report.record(`${downloadLabel}: proxy CPU time`, 's', system, cpu / 1000);
      report.record(`${downloadLabel}: bytes through the proxy, read + written`, 'MiB', system, io / MiB);
      log(`  ${system} download: ${Math.round(size / (total / 1000))} MiB/s, RSS +${(growth / MiB).toFixed(1)} MiB, CPU ${(cpu / 1000).toFixed(2)} s`);
    }

    // 2b. Ours only: the same download through a presigned redirect; the backend only signs.
    if (runs('presign')) {
      const { result, cpu, io } = await presignedDownload();
      const size = SETTINGS.download / MiB;
      report.record(`${presignedLabel}: throughput`, 'MiB/s', 'ours', size / (result.total / 1000));
      report.record(`${presignedLabel}: time to first byte`, 'ms', 'ours', result.ttfb);
      report.record(`${presignedLabel}: proxy CPU time`, 's', 'ours', cpu / 1000);
      // KiB: the presign request and its 307, against the proxied download's MiB.
      report.record(`${presignedLabel}: bytes through the proxy, read + written`, 'KiB', 'ours', io / 1024, { on: 'ours', at: 'most', value: 64 });
      log(`  ours presigned download: ${Math.round(size / (result.total / 1000))} MiB/s, CPU ${(cpu / 1000).toFixed(2)} s, ${io} bytes through`);
    }

    // 3. Streamed upload (unsigned payload) and the same size signed (ours streams it
    // chunk-signed; the others pass it as it is), then signed 8 MiB uploads, 4 at a time.
    for (const system of runs('upload') ? order(round) : []) {
      const size = SETTINGS.upload / MiB;
      const unsigned = await upload(system, 'stream');
      report.record(`${uploadLabel}: throughput`, 'MiB/s', system, size / (unsigned.total / 1000));
      report.record(`${uploadLabel}: proxy RSS growth, largest`, 'MiB', system, unsigned.growth / MiB, { on: 'ours', at: 'most', value: 32 }, 'largest');
      const signed = await upload(system, 'signed');
      report.record(`${signedUploadLabel}: throughput`, 'MiB/s', system, size / (signed.total / 1000));
      report.record(`${signedUploadLabel}: proxy RSS growth, largest`, 'MiB', system, signed.growth / MiB, {
        on: 'ours',
        at: 'most',
        value: 1,
        relativeTo: { label: `${uploadLabel}: proxy RSS growth, largest`, name: "ours' unsigned upload" },
      }, 'largest');
      log(`  ${system} upload: unsigned ${Math.round(size / (unsigned.total / 1000))} MiB/s, RSS +${(unsigned.growth / MiB).toFixed(1)} MiB; signed ${Math.round(size / (signed.total / 1000))} MiB/s, RSS +${(signed.growth / MiB).toFixed(1)} MiB`);
    }
    for (const system of runs('signed') ? order(round) : []) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      const pid = child[system]?.pid;
      let cpu = NaN;
      const { result, growth, before } = await withMemory(child[system], async () => {
        const started = performance.now();
        const cpuBefore = pid ? cpuTime(pid) : NaN;
        await Promise.all(
          Array.from({ length: SETTINGS.signedUploads }, async () => {
            const r = await transfer(`${base(system, 'signed')}/upload/8mib`, {
              method: 'PUT',
              upload: 8 * MiB,
              headers: headers(system),
              agent,
            });
            if (r.status !== 200) throw new Error(`${system}: 8 MiB upload answered ${r.status}`);
          }),
        );
        cpu = pid ? cpuTime(pid) - cpuBefore : NaN;
        return (SETTINGS.signedUploads * 1000) / (performance.now() - started);
      });
      agent.destroy();
      report.record('8 MiB signed uploads: proxy CPU time per upload', 'ms', system, cpu / SETTINGS.signedUploads);
      log(`  ${system} 8 MiB signed uploads: ${result.toFixed(1)} req/s, RSS +${(growth / MiB).toFixed(1)} MiB`);
      // Ours streams each chunk-signed (issue 17); it buffered them whole before, at 0.78.
      report.record('8 MiB signed uploads: requests/s', 'req/s', system, result, { on: 'ratio', at: 'least', value: 0.95 });
      report.record('8 MiB signed uploads: proxy RSS growth, largest', 'MiB', system, growth / MiB, undefined, 'largest');
      const after = child[system] ? await collectedMemory(child[system]!) : undefined;
      const over = (key: 'rss' | 'arrayBuffers') => (after && before ? (after[key] - before[key]) / MiB : NaN);
      // The first run leaves RSS higher in every process: the allocator keeps freed memory
      // for reuse. Retention shows in the buffers, and in RSS round after round.
      report.record('8 MiB signed uploads: RSS after the run over before', 'MiB', system, over('rss'), { on: 'ours', at: 'most', value: 2 });
      report.record('8 MiB signed uploads: buffers after the run over before, largest', 'MiB', system, over('arrayBuffers'), { on: 'ours', at: 'most', value: 1 }, 'largest');
    }

    // 4. Upstream connections opened per sequential requests, each on one client connection.
    for (const system of runs('connections') ? order(round) : []) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const before = (await getJson(`http://127.0.0.1:${up.http}/_stats`)).connections;
      for (let i = 0; i < SETTINGS.sequential; i++) {
        const r = await transfer(`${base(system, 'http')}/small`, { headers: headers(system), agent });
        if (r.status !== 200) throw new Error(`${system}: sequential GET answered ${r.status}`);
      }
      agent.destroy();
      const after = (await getJson(`http://127.0.0.1:${up.http}/_stats`)).connections;
      // For direct, the client's own connection.
      report.record(`upstream connections per ${SETTINGS.sequential} sequential requests`, 'conns', system, after - before, {
        on: 'ours',
        at: 'most',
        value: 2,
      });
    }
  }

  // 5. Signing alone, in this process.
  if (runs('signing')) {
    const signing = await measureSigning(SETTINGS.signings);
    report.record('signing one request (credentials cached)', 'µs', 'ours', signing, { on: 'ours', at: 'most', value: 50 });
  }

  /** The Location of a GET /_presign/... 307: a presigned URL on the upstream, starting with `expected`. */
  async function presignedUrl(url: string, expected: string): Promise<string> {
    const { status, location } = await redirectOf(url, AUTH);
    if (status !== 307 || !location?.startsWith(expected) || !/[?&]X-Amz-Signature=/.test(location)) {
      throw new Error(`GET ${url} answered ${status} to ${location}; expected a 307 to a presigned ${expected}`);
    }
    return location;
  }

  return report.render(
    `${QUICK ? 'Quick' : 'Full'} run on ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} CPUs), Node ${process.version}; medians of ${SETTINGS.rounds} round(s) unless marked 'largest', systems interleaved.`,
    !QUICK,
  );
}

main()
  .then(async () => {
    await stopAll();
    if (CPU_PROF) log(`CPU profiles written to ${path.resolve(CPU_PROF)}`);
    process.exit(0);
  })
  .catch(async error => {
    log(`bench failed: ${error?.stack ?? error}`);
    await stopAll();
    process.exit(1);
  });

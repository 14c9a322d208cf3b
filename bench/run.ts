/*
 * `npm run bench [-- --quick]`: the side-by-side benchmark.
 *
 * Starts, as separate processes on loopback: the upstream (bench/upstream.ts, HTTP and HTTPS
 * with a certificate made now), a real Backstage backend with this plugin and one with
 * @backstage/plugin-proxy-backend (the unsigned baseline), both from bench/backend.ts. Then
 * measures upstream-direct, baseline and ours in turn, interleaved round by round, and prints
 * one table with ours/baseline ratios. `--quick` runs a little of each (CI's smoke check).
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import autocannon from 'autocannon';
import selfsigned from 'selfsigned';
import { measureSigning } from './signing';

const QUICK = process.argv.includes('--quick');
const MiB = 1024 * 1024;
const SETTINGS = QUICK
  ? { rounds: 1, seconds: 2, download: 64 * MiB, upload: 64 * MiB, signedUploads: 8, sequential: 200, signings: 20_000 }
  : { rounds: 3, seconds: 10, download: 1024 * MiB, upload: 1024 * MiB, signedUploads: 40, sequential: 1000, signings: 200_000 };
const TOKEN = 'bench-token-for-local-use-only';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const ROOT = path.resolve(__dirname, '..');

type System = 'direct' | 'baseline' | 'ours';
const SYSTEMS: System[] = ['direct', 'baseline', 'ours'];

const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a TypeScript file as a process and waits for its `{"ready":true,...}` line. */
async function startProcess(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '-r', require.resolve('@backstage/cli/config/nodeTransform.cjs'), ...args],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  const stderr: string[] = [];
  child.stderr!.on('data', d => stderr.push(String(d)));
  const lines = readline.createInterface({ input: child.stdout! });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start in 120 s:\n${stderr.join('')}`)), 120_000);
    lines.on('line', line => {
      try {
        const value = JSON.parse(line);
        if (value?.ready) {
          clearTimeout(timer);
          resolve(value);
        }
      } catch {
        // a log line
      }
    });
    child.once('exit', code => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${stderr.join('')}`));
    });
  });
  child.removeAllListeners('exit');
  return { child, ready };
}

/** The resident set size of a process, from /proc (Linux), in bytes. */
function rss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** Samples a process's RSS every 20 ms while `work` runs: peak growth over the start. */
async function withRss<T>(pid: number | undefined, work: () => Promise<T>) {
  if (pid === undefined) {
    return { result: await work(), growth: NaN, start: NaN, end: NaN };
  }
  await settle(pid);
  const start = rss(pid);
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, rss(pid));
  }, 20);
  try {
    const result = await work();
    peak = Math.max(peak, rss(pid));
    return { result, growth: peak - start, start, end: rss(pid) };
  } finally {
    clearInterval(timer);
  }
}

/** Asks a backend to collect garbage, and waits for it to settle. */
async function settle(pid: number) {
  process.kill(pid, 'SIGUSR2');
  await new Promise(r => setTimeout(r, 500));
}

function getJson(url: string, agent?: http.Agent): Promise<any> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
      })
      .on('error', reject);
  });
}

/** One request, body streamed from `upload` bytes if given, answer counted; timings in ms. */
function transfer(
  url: string,
  options: { method?: string; upload?: number; headers?: http.OutgoingHttpHeaders; agent?: http.Agent; ca?: string },
): Promise<{ status: number; bytes: number; ttfb: number; total: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let ttfb = NaN;
    const transport = url.startsWith('https:') ? https : http;
    const req = transport.request(
      url,
      {
        method: options.method ?? 'GET',
        headers: {
          ...options.headers,
          ...(options.upload !== undefined ? { 'content-length': options.upload } : {}),
        },
        agent: options.agent,
        ca: options.ca,
      },
      res => {
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          if (bytes === 0) ttfb = performance.now() - started;
          bytes += c.length;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, bytes, ttfb, total: performance.now() - started }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.upload === undefined) {
      req.end();
      return;
    }
    const chunk = Buffer.alloc(64 * 1024, 'u');
    let left = options.upload;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n)) && left > 0) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

const median = (xs: number[]) => {
  const s = xs.filter(x => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};

async function main() {
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

  const log = (s: string) => process.stderr.write(`${s}\n`);
  log(`bench: ${QUICK ? 'quick' : 'full'} run, ${os.cpus().length} CPUs, Node ${process.version}`);

  const upstream = await startProcess('upstream', ['bench/upstream.ts', certFile, keyFile]);
  const up = { http: upstream.ready.http as number, https: upstream.ready.https as number };
  const ports = { ours: await freePort(), baseline: await freePort() };

  const backendConfig = (port: number) => `
backend:
  baseUrl: http://127.0.0.1:${port}
  listen: { port: ${port}, host: 127.0.0.1 }
  database: { client: better-sqlite3, connection: ':memory:' }
  auth:
    externalAccess:
      - type: static
        options: { token: ${TOKEN}, subject: bench }
`;
  const api = { service: 'execute-api', region: 'eu-west-1' };
  const s3 = { service: 's3', region: 'us-east-1' };
  const oursYaml = `${backendConfig(ports.ours)}
aws:
  mainAccount: { accessKeyId: AKIDBENCHMARK, secretAccessKey: bench-secret-access-key }
proxysigv4:
  checkCredentialsOnStart: false
  '/http': { target: 'http://127.0.0.1:${up.http}/api', service: ${api.service}, region: ${api.region} }
  '/https': { target: 'https://localhost:${up.https}/api', service: ${api.service}, region: ${api.region} }
  '/stream': { target: 'http://127.0.0.1:${up.http}/bucket', service: ${s3.service}, region: ${s3.region}, unsignedPayload: true, timeout: 600000 }
  '/signed': { target: 'http://127.0.0.1:${up.http}/bucket', service: ${s3.service}, region: ${s3.region}, maxBodySize: 16777216 }
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
  const [ours, baseline] = await Promise.all([
    startProcess('ours', ['bench/backend.ts', 'ours', '--config', path.join(dir, 'ours.yaml')], backendEnv),
    startProcess('baseline', ['bench/backend.ts', 'baseline', '--config', path.join(dir, 'baseline.yaml')], backendEnv),
  ]);
  const pid: Record<System, number | undefined> = {
    direct: undefined,
    baseline: baseline.child.pid,
    ours: ours.child.pid,
  };

  /** Where each system serves a route: the upstream itself, or a backend's proxy route. */
  const base = (system: System, route: 'http' | 'https' | 'stream' | 'signed') => {
    if (system === 'direct') {
      if (route === 'https') return `https://localhost:${up.https}/api`;
      return `http://127.0.0.1:${up.http}/${route === 'http' ? 'api' : 'bucket'}`;
    }
    return system === 'ours'
      ? `http://127.0.0.1:${ports.ours}/api/proxy-sigv4/${route}`
      : `http://127.0.0.1:${ports.baseline}/api/proxy/${route}`;
  };
  const headers = (system: System) => (system === 'direct' ? {} : AUTH);

  // Sanity: every system answers every route before anything is measured.
  for (const system of SYSTEMS) {
    for (const route of ['http', 'https'] as const) {
      const r = await transfer(`${base(system, route)}/small`, { headers: headers(system), ca: pems.cert });
      if (r.status !== 200) throw new Error(`${system} ${route}: GET small answered ${r.status}`);
    }
  }

  type Row = { label: string; unit: string; better: 'higher' | 'lower'; values: Record<System, number[]> };
  const rows = new Map<string, Row>();
  const record = (label: string, unit: string, better: Row['better'], system: System, value: number) => {
    let row = rows.get(label);
    if (!row) {
      row = { label, unit, better, values: { direct: [], baseline: [], ours: [] } };
      rows.set(label, row);
    }
    row.values[system].push(value);
  };

  for (let round = 1; round <= SETTINGS.rounds; round++) {
    log(`round ${round}/${SETTINGS.rounds}`);
    // 1. Small GETs, 32 connections.
    for (const route of ['http', 'https'] as const) {
      for (const system of SYSTEMS) {
        const result = await autocannon({
          url: `${base(system, route)}/small`,
          connections: 32,
          duration: SETTINGS.seconds,
          headers: headers(system),
        });
        if (result.non2xx || result.errors) {
          throw new Error(`${system} ${route}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
        }
        const label = `small GET over ${route.toUpperCase()}`;
        record(`${label}: requests/s`, 'req/s', 'higher', system, result.requests.average);
        record(`${label}: p50 latency`, 'ms', 'lower', system, result.latency.p50);
        record(`${label}: p99 latency`, 'ms', 'lower', system, result.latency.p99);
        log(`  ${system} ${route}: ${Math.round(result.requests.average)} req/s`);
      }
    }

    // 2. Streamed download.
    for (const system of SYSTEMS) {
      const { result, growth } = await withRss(pid[system], () =>
        transfer(`${base(system, 'stream')}/bytes/${SETTINGS.download}`, { headers: headers(system) }),
      );
      if (result.bytes !== SETTINGS.download) throw new Error(`${system}: downloaded ${result.bytes} bytes`);
      const size = SETTINGS.download / MiB;
      record(`${size} MiB download: throughput`, 'MiB/s', 'higher', system, size / (result.total / 1000));
      record(`${size} MiB download: time to first byte`, 'ms', 'lower', system, result.ttfb);
      record(`${size} MiB download: proxy RSS growth`, 'MiB', 'lower', system, growth / MiB);
      log(`  ${system} download: ${Math.round(size / (result.total / 1000))} MiB/s`);
    }

    // 3. Streamed upload (unsigned payload), then signed 8 MiB uploads.
    for (const system of SYSTEMS) {
      const { result, growth } = await withRss(pid[system], () =>
        transfer(`${base(system, 'stream')}/upload/big`, { method: 'PUT', upload: SETTINGS.upload, headers: headers(system) }),
      );
      if (result.status !== 200) throw new Error(`${system}: upload answered ${result.status}`);
      const size = SETTINGS.upload / MiB;
      record(`${size} MiB upload (unsigned payload): throughput`, 'MiB/s', 'higher', system, size / (result.total / 1000));
      record(`${size} MiB upload (unsigned payload): proxy RSS growth`, 'MiB', 'lower', system, growth / MiB);
    }
    for (const system of SYSTEMS) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      const { result, start } = await withRss(pid[system], async () => {
        const started = performance.now();
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
        return (SETTINGS.signedUploads * 1000) / (performance.now() - started);
      });
      agent.destroy();
      record('8 MiB signed uploads: requests/s', 'req/s', 'higher', system, result);
      if (pid[system] !== undefined) {
        await settle(pid[system]!);
        record('8 MiB signed uploads: RSS after, over before', 'MiB', 'lower', system, (rss(pid[system]!) - start) / MiB);
      } else {
        record('8 MiB signed uploads: RSS after, over before', 'MiB', 'lower', system, NaN);
      }
    }

    // 4. Upstream connections per sequential requests.
    for (const system of SYSTEMS) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const before = (await getJson(`http://127.0.0.1:${up.http}/_stats`)).connections;
      for (let i = 0; i < SETTINGS.sequential; i++) {
        const r = await transfer(`${base(system, 'http')}/small`, { headers: headers(system), agent });
        if (r.status !== 200) throw new Error(`${system}: sequential GET answered ${r.status}`);
      }
      agent.destroy();
      const after = (await getJson(`http://127.0.0.1:${up.http}/_stats`)).connections;
      // The client's own connection counts for direct only.
      record(`upstream connections per ${SETTINGS.sequential} sequential requests`, 'conns', 'lower', system, after - before);
    }
  }

  // 5. Signing alone, in this process.
  const signing = await measureSigning(SETTINGS.signings);
  record('signing one request (credentials cached)', 'µs', 'lower', 'ours', signing);

  // The table.
  const fmt = (x: number) => {
    if (Number.isNaN(x)) return '—';
    if (x >= 100) return x.toFixed(0);
    return x >= 10 ? x.toFixed(1) : x.toFixed(2);
  };
  const header = ['figure', 'unit', 'direct', 'baseline', 'ours', 'ours/baseline'];
  const table = [...rows.values()].map(row => {
    const m = SYSTEMS.map(s => median(row.values[s]));
    const ratio = m[2] / m[1];
    return [row.label, row.unit, fmt(m[0]), fmt(m[1]), fmt(m[2]), Number.isFinite(ratio) ? ratio.toFixed(2) : '—'];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map(r => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  process.stdout.write(
    [
      '',
      `${QUICK ? 'Quick' : 'Full'} run on ${os.cpus()[0]?.model ?? 'unknown CPU'} (${os.cpus().length} CPUs), Node ${process.version}; medians of ${SETTINGS.rounds} round(s), systems interleaved.`,
      line(header),
      `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`,
      ...table.map(line),
      '',
    ].join('\n'),
  );
}

function stopAll() {
  for (const child of children) child.kill('SIGTERM');
}

main()
  .then(() => {
    stopAll();
    process.exit(0);
  })
  .catch(error => {
    process.stderr.write(`bench failed: ${error?.stack ?? error}\n`);
    stopAll();
    process.exit(1);
  });

/*
 * The demo test (`npm run test:demo`): does what README's "Try it" section tells a new user.
 *   - Starts `npm start` in its own process group, as a terminal would, and waits for the
 *     list of what to try; that list must be README's commands.
 *   - Runs every curl command of README's "It prints what to try" block, parsed from
 *     README.md, with the real curl from the repository's folder, and checks each answer.
 *     Every command must be matched by exactly one check and every check by one command, so
 *     that a command added to README, or one removed, fails the test until the test follows.
 *   - Sends SIGINT to the process group (Ctrl-C) and checks that everything has stopped
 *     within 15 s, cleanly, and that the ports are free again.
 * The ports are README's (7007, 4569, 4570). One that something else holds (another backend
 * on 7007, say) is replaced by a free one, through the variables dev/index.ts reads, and the
 * commands are run with the backend's port replaced; the test says so.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, listenError } from '../localAws';

const ROOT = path.resolve(__dirname, '..');
const CURL = '/usr/bin/curl';
/** README's ports, and the variable that moves each when something else holds it. */
const PORTS: Array<{ port: number; host?: string; what: string; env: string }> = [
  { port: 7007, what: 'the backend', env: 'DEMO_BACKEND_PORT' },
  { port: 4569, host: '127.0.0.1', what: 'the local S3', env: 'DEMO_S3_PORT' },
  { port: 4570, host: '127.0.0.1', what: 'the local STS', env: 'DEMO_STS_PORT' },
];
/** What dev/index.ts seeds as demo-bucket/hello.txt. */
const HELLO = 'Hello from S3, signed with SigV4 and verified.\n';
const BANNER_START = 'Try, from this folder:';
const BANNER_END = 'Ctrl-C stops all three servers.';
const STOPPED = 'Stopped the backend, the local S3 and the local STS.';
const START_TIMEOUT_MS = 180_000;
const STOP_TIMEOUT_MS = 15_000;

const log = (s: string) => process.stdout.write(`demo test: ${s}\n`);
const results: Array<{ ok: boolean; what: string; detail?: string }> = [];
/** Set when the test itself gets SIGINT or SIGTERM. */
let interrupted = false;

function check(ok: boolean, what: string, detail?: string): boolean {
  results.push({ ok, what, detail: ok ? undefined : detail });
  log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok || !detail ? '' : `\n       ${detail}`}`);
  return ok;
}

/** The log's colours (ESC [ ... m). */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const stripAnsi = (s: string) => s.replace(ANSI_COLOUR, '');

// ---------------------------------------------------------------------------------------
// README's commands

/** The lines of a shell block, with `\` continuations joined and comments removed. */
export function shellCommands(block: string): string[] {
  const joined = block.replace(/\\\n\s*/g, ' ');
  return joined
    .split('\n')
    .map(line => withoutComment(line).trim().replace(/\s+/g, ' '))
    .filter(line => line !== '');
}

function withoutComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      return line.slice(0, i);
    }
  }
  return line;
}

/** A shell command line's words: single and double quotes, and backslashes, as sh reads them. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unbalanced ' in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let value = '';
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && /["\\$`]/.test(line[i + 1] ?? '')) i++;
        if (/[$`]/.test(line[i])) throw new Error(`shell expansion is not supported: ${line}`);
        value += line[i];
      }
      if (i >= line.length) throw new Error(`unbalanced " in: ${line}`);
      word = (word ?? '') + value;
    } else if (c === '\\') {
      word = (word ?? '') + (line[++i] ?? '');
    } else if (/[|&;<>()$`*?]/.test(c)) {
      throw new Error(`only plain commands are supported ('${c}'): ${line}`);
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The ```sh block that follows "It prints what to try" in README's "Try it" section. */
export function readmeTryCommands(readme: string): string[] {
  const section = /^## Try it[^\n]*\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Try it" section');
  const after = section.indexOf('It prints what to try');
  if (after < 0) throw new Error('README\'s "Try it" section no longer says "It prints what to try"');
  const block = /```sh\n([\s\S]*?)```/.exec(section.slice(after))?.[1];
  if (!block) throw new Error('no ```sh block after "It prints what to try" in README');
  return shellCommands(block);
}

// ---------------------------------------------------------------------------------------
// curl

interface Curl {
  /** The command as README gives it. */
  line: string;
  words: string[];
  method: string;
  url: URL;
  headers: Record<string, string>;
  uploads?: string;
}

function parseCurl(line: string): Curl {
  const words = shellWords(line);
  if (words[0] !== 'curl') throw new Error(`not a curl command: ${line}`);
  const headers: Record<string, string> = {};
  let method: string | undefined;
  let url: string | undefined;
  let uploads: string | undefined;
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    if (w === '-H' || w === '--header') {
      const [name, ...value] = words[++i].split(':');
      headers[name.trim().toLowerCase()] = value.join(':').trim();
    } else if (w === '-X' || w === '--request') {
      method = words[++i];
    } else if (w === '--data-binary' || w === '-T' || w === '--upload-file') {
      uploads = words[++i].replace(/^@/, '');
    } else if (/^https?:\/\//.test(w)) {
      url = w;
    } else {
      throw new Error(`curl option the test does not know: ${w} (in: ${line})`);
    }
  }
  if (!url) throw new Error(`no URL in: ${line}`);
  return { line, words, method: method ?? (uploads ? 'POST' : 'GET'), url: new URL(url), headers, uploads };
}

interface Answer {
  status: number;
  body: Buffer;
  headers: string;
}

/** Runs the command's own words with the real curl, from the repository's folder. */
function runCurl(curl: Curl): Promise<Answer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-sigv4-demo-test-'));
  const bodyFile = path.join(dir, 'body');
  const headerFile = path.join(dir, 'headers');
  const args = [
    ...curl.words.slice(1),
    '--silent',
    '--show-error',
    '--max-time',
    '30',
    '--output',
    bodyFile,
    '--dump-header',
    headerFile,
    '--write-out',
    '%{http_code}',
  ];
  return new Promise((resolve, reject) => {
    execFile(CURL, args, { cwd: ROOT, encoding: 'utf8' }, (error, stdout, stderr) => {
      try {
        if (error) {
          reject(new Error(`curl failed: ${stderr.trim() || error.message}`));
          return;
        }
        resolve({
          status: Number(stdout.trim()),
          body: fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile) : Buffer.alloc(0),
          headers: fs.existsSync(headerFile) ? fs.readFileSync(headerFile, 'utf8') : '',
        });
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const short = (b: Buffer | string) => JSON.stringify(String(b).slice(0, 300));

// ---------------------------------------------------------------------------------------
// The checks: each README command must be matched by exactly one of them.

interface DemoCheck {
  name: string;
  matches(curl: Curl): boolean;
  verify(answer: Answer, curl: Curl): Promise<void> | void;
}

const hasToken = (c: Curl) => /^Bearer \S+$/.test(c.headers.authorization ?? '');
const path_ = (c: Curl) => c.url.pathname;

/** A GET with the token of the seeded hello.txt through `route`, which answers it. */
const seededObject = (route: string, what: string): DemoCheck => ({
  name: `GET ${route} with the token`,
  matches: c => c.method === 'GET' && hasToken(c) && path_(c) === `/api/proxy-sigv4${route}`,
  verify: a => {
    check(a.status === 200, `${what}: 200`, `status ${a.status}, body ${short(a.body)}`);
    check(a.body.toString() === HELLO, `${route}: the seeded text`, `body ${short(a.body)}`);
  },
});

const CHECKS: DemoCheck[] = [
  seededObject('/demo/hello.txt', '/demo/hello.txt'),
  {
    name: 'GET /demo?list-type=2 with the token',
    matches: c =>
      c.method === 'GET' && hasToken(c) && path_(c) === '/api/proxy-sigv4/demo' && c.url.searchParams.get('list-type') === '2',
    verify: a => {
      const xml = a.body.toString();
      check(a.status === 200, '/demo?list-type=2: 200', `status ${a.status}, body ${short(xml)}`);
      check(
        /<ListBucketResult[\s>]/.test(xml) && xml.includes('<Name>demo-bucket</Name>') && xml.includes('<Key>hello.txt</Key>'),
        '/demo?list-type=2: a ListBucketResult of demo-bucket with hello.txt',
        `body ${short(xml)}`,
      );
    },
  },
  {
    name: 'PUT /demo/uploaded.json with the token',
    matches: c => c.method === 'PUT' && hasToken(c) && path_(c) === '/api/proxy-sigv4/demo/uploaded.json',
    verify: async (a, c) => {
      check(a.status === 200, 'PUT /demo/uploaded.json: 200', `status ${a.status}, body ${short(a.body)}`);
      // Read back through the proxy: the object must be package.json, byte for byte.
      const expected = fs.readFileSync(path.join(ROOT, 'package.json'));
      const back = await fetch(c.url, { headers: { authorization: c.headers.authorization } });
      const body = Buffer.from(await back.arrayBuffer());
      check(
        back.status === 200 && body.equals(expected),
        'PUT /demo/uploaded.json: read back, byte-identical to package.json',
        `read back ${back.status}, ${body.length} bytes (package.json: ${expected.length}), ${short(body)}`,
      );
      if (c.headers['content-type']) {
        check(
          back.headers.get('content-type') === c.headers['content-type'],
          `PUT /demo/uploaded.json: read back with content-type ${c.headers['content-type']}`,
          `content-type ${back.headers.get('content-type')}`,
        );
      }
    },
  },
  {
    name: 'GET /demo/hello.txt without a token',
    matches: c => c.method === 'GET' && !c.headers.authorization && path_(c) === '/api/proxy-sigv4/demo/hello.txt',
    verify: a => {
      check(a.status === 401, 'without a token: 401', `status ${a.status}, body ${short(a.body)}`);
      check(!a.body.toString().includes(HELLO.trim()), 'without a token: not the object', `body ${short(a.body)}`);
    },
  },
  seededObject('/demo-role/hello.txt', '/demo-role/hello.txt (an assumed role)'),
  {
    name: 'GET /_routes with the token',
    matches: c => c.method === 'GET' && hasToken(c) && path_(c) === '/api/proxy-sigv4/_routes',
    verify: a => {
      check(a.status === 200, '/_routes: 200', `status ${a.status}, body ${short(a.body)}`);
      let routes: Array<{ route: string; check?: { ok?: boolean; arn?: string } }> = [];
      try {
        routes = JSON.parse(a.body.toString()).routes ?? [];
      } catch {
        // checked below
      }
      const byName = new Map(routes.map(r => [r.route, r]));
      const expected: Record<string, string> = {
        '/demo': 'arn:aws:iam::000000000000:user/demo-backstage',
        '/demo-role': 'arn:aws:sts::000000000000:assumed-role/demo-reader/demo-session',
      };
      check(
        routes.length === 2 && Object.keys(expected).every(r => byName.has(r)),
        '/_routes: the routes /demo and /demo-role',
        `routes ${JSON.stringify(routes.map(r => r.route))}`,
      );
      for (const [route, arn] of Object.entries(expected)) {
        const got = byName.get(route)?.check;
        check(got?.ok === true && got.arn === arn, `/_routes: ${route} ok, signs as ${arn}`, `check ${JSON.stringify(got)}`);
      }
    },
  },
];

// ---------------------------------------------------------------------------------------
// Processes and ports

async function portFree(port: number, host?: string): Promise<boolean> {
  return !(await listenError(port, host));
}

/** Whether any process is left in the process group. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitFor(ms: number, done: () => boolean | Promise<boolean>): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await done()) return true;
    if (Date.now() > until) return false;
    await new Promise(r => setTimeout(r, 100));
  }
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise(resolve => child.once('exit', (code, signal) => resolve({ code, signal })));
}

// ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  // README's commands first: a README the test cannot read is a failure before anything starts.
  const readmeCommands = readmeTryCommands(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  log(`README's "Try it" section gives ${readmeCommands.length} curl commands`);

  // README's ports, or free ones in place of those something else holds.
  const env: NodeJS.ProcessEnv = { ...process.env };
  const ports: Array<{ port: number; host?: string; what: string }> = [];
  for (const { port, host, what, env: variable } of PORTS) {
    let used = port;
    if (!(await portFree(port, host))) {
      used = await freePort();
      env[variable] = String(used);
      log(`port ${port} (${what}) is in use by something else: the demo runs with ${variable}=${used}`);
    }
    ports.push({ port: used, host, what });
  }
  const backendPort = ports[0].port;
  const commands = readmeCommands.map(c =>
    c.replaceAll('http://localhost:7007/', `http://localhost:${backendPort}/`),
  );
  const curls = commands.map(parseCurl);

  // As a new user would: `npm start` in the repository, in its own process group (a terminal's
  // foreground job), which is where Ctrl-C's SIGINT goes.
  const started = Date.now();
  const child = spawn('npm', ['start'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pgid = child.pid!;
  // Ctrl-C: SIGINT to the whole foreground process group, once (backstage-cli would take a
  // second one as the end). Resolves with whether everything ended within the time allowed;
  // what is left is then killed.
  let stopping: Promise<boolean> | undefined;
  const stopDemo = () =>
    (stopping ??= (async () => {
      if (groupAlive(pgid)) process.kill(-pgid, 'SIGINT');
      const ended = await waitFor(
        STOP_TIMEOUT_MS,
        () => !groupAlive(pgid) && (child.exitCode !== null || child.signalCode !== null),
      );
      if (!ended && groupAlive(pgid)) process.kill(-pgid, 'SIGKILL');
      return ended;
    })());
  // If the test itself is stopped (Ctrl-C on it, CI's timeout), npm start goes with it; the
  // test waits for it, so that the pipes of its output stay open while it stops.
  const onSignal = async (signal: NodeJS.Signals) => {
    interrupted = true;
    process.stderr.write(`demo test: stopped by ${signal}; stopping npm start\n`);
    await stopDemo();
    process.stderr.write('demo test: INTERRUPTED\n');
    process.exit(1);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let output = '';
  child.stdout!.on('data', d => (output += d));
  child.stderr!.on('data', d => (output += d));
  const exited = exitOf(child);

  try {
    const ready = await waitFor(START_TIMEOUT_MS, () => output.includes(BANNER_END) || child.exitCode !== null || child.signalCode !== null);
    const bannerShown = ready && output.includes(BANNER_END);
    if (!check(bannerShown, `npm start printed what to try (${Math.round((Date.now() - started) / 1000)} s)`, stripAnsi(output).slice(-3000))) {
      return;
    }
    // The banner's commands are README's, in the same order.
    const text = stripAnsi(output);
    const banner = text.slice(text.indexOf(BANNER_START) + BANNER_START.length, text.indexOf(BANNER_END));
    const printed = shellCommands(banner);
    check(
      JSON.stringify(printed) === JSON.stringify(commands),
      "the start-up banner prints README's commands",
      `printed:\n${printed.join('\n')}\nREADME:\n${commands.join('\n')}`,
    );

    // Every command matched by exactly one check, every check by exactly one command.
    const pairs: Array<{ curl: Curl; demoCheck: DemoCheck }> = [];
    for (const curl of curls) {
      const matching = CHECKS.filter(c => c.matches(curl));
      if (check(matching.length === 1, `README command has a check: ${curl.line}`, `${matching.length} checks match it: add or fix one in e2e/demoTest.ts`)) {
        pairs.push({ curl, demoCheck: matching[0] });
      }
    }
    for (const demoCheck of CHECKS) {
      const n = curls.filter(c => demoCheck.matches(c)).length;
      check(n === 1, `check "${demoCheck.name}" has a README command`, `${n} README commands match it`);
    }

    // README's order: the PUT before any command that could depend on it.
    for (const { curl, demoCheck } of pairs) {
      if (interrupted) return;
      log(`$ ${curl.line}`);
      try {
        await demoCheck.verify(await runCurl(curl), curl);
      } catch (error) {
        check(false, demoCheck.name, String((error as Error)?.message ?? error));
      }
    }
  } finally {
    const stopAt = Date.now();
    const stoppedInTime = await stopDemo();
    const seconds = ((Date.now() - stopAt) / 1000).toFixed(1);
    check(stoppedInTime, `Ctrl-C: npm start and all its processes ended within ${STOP_TIMEOUT_MS / 1000} s (${seconds} s)`, 'still running: killed with SIGKILL');
    const { code, signal } = await exited;
    // npm runs the script with sh, which ends itself with the SIGINT it received once the
    // backend has exited, and npm then does the same: a shell shows 130, as for any npm
    // script on Ctrl-C. The backend's own status is the "Stopped" line it prints just
    // before it exits with 0, after its shutdown hooks.
    check(
      code === 0 || signal === 'SIGINT' || code === 130,
      'Ctrl-C: npm start ended by the Ctrl-C (status 0 or SIGINT), not by an error',
      `code ${code}, signal ${signal}`,
    );
    const text = stripAnsi(output);
    check(text.includes(STOPPED), `Ctrl-C: the backend stopped cleanly ("${STOPPED}")`, text.slice(-2000));
    const trace = /^\s+at .+:\d+:\d+\)?$/m.exec(text);
    check(!trace, 'no stack trace in the output', trace ? text.slice(Math.max(0, trace.index - 1000), trace.index + 300) : '');
    const problems = text.split('\n').filter(line => /^\S+Z \S+ (warn|error) /.test(line) || /^\(node:\d+\) \w*Warning/.test(line));
    check(problems.length === 0, 'no warnings or errors logged by the backend', problems.join('\n'));
    for (const { port, host, what } of ports) {
      check(await waitFor(5_000, () => portFree(port, host)), `port ${port} (${what}) is free again`, 'still in use');
    }
  }
}

main()
  .catch(error => check(false, 'the demo test ran', String(error?.message ?? error)))
  .then(() => {
    // Interrupted: the signal's handler ends the test, with 1, once npm start has stopped.
    if (interrupted) return;
    const failed = results.filter(r => !r.ok);
    process.stdout.write(
      failed.length === 0 && results.length > 0
        ? `\ndemo test PASSED: ${results.length} checks\n`
        : `\ndemo test FAILED: ${failed.length} of ${results.length} checks\n${failed
            .map(r => `  - ${r.what}${r.detail ? `\n      ${r.detail.split('\n').join('\n      ')}` : ''}`)
            .join('\n')}\n`,
    );
    process.exit(failed.length === 0 && results.length > 0 ? 0 : 1);
  });

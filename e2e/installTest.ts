/*
 * The install test (`npm run test:install`): README's "Installation into a Backstage app",
 * done as a user does it, with the commands read from README.md (the blocks marked
 * `<!-- install-test: ... -->`, see e2e/readmeInstall.ts) and run verbatim through bash:
 *   1. Tools from the npm registry only: Node 22 (the `node` package, in .ci/.nodes/22) and
 *      the Yarn 4 that create-app's template ships (.yarn/releases/yarn-4.13.0.cjs, the
 *      yarnPath of its .yarnrc.yml), run with Node 22 by a `yarn` command first on PATH; npm is
 *      the machine's. Yarn is pointed at the npm registry (YARN_NPM_REGISTRY_SERVER), and
 *      better-sqlite3 compiles with the headers in Node 22's package (npm_config_nodedir).
 *      See e2e/installWorkspace.ts.
 *   2. An app shaped like create-app's, rendered from create-app's template with its own
 *      version table: root package.json, .yarnrc.yml (npmMinimalAgeGate: 3d, kept), yarn.lock,
 *      app-config.yaml, and packages/backend reduced to createBackend() and backend.start()
 *      with @backstage/backend-defaults, better-sqlite3 and node-gyp; `yarn install` first.
 *   3. README's first command (`npm ci && npm pack`) in a copy of this repository's files
 *      (`git ls-files --cached --others --exclude-standard`: in CI's fresh clone the committed
 *      files; while developing, uncommitted work too; ignored files such as node_modules are
 *      not copied); the tarball README names must be the one it wrote. Then README's second
 *      command (`yarn --cwd packages/backend add ...`) in the app's root, PLUGIN_DIR set.
 *   4. README's backend line added before `backend.start();`. An app starts with `yarn start`
 *      (backstage-cli package start), but @backstage/cli is heavy to install; the test
 *      transpiles src/index.ts with this repository's `typescript` (transpileModule, to
 *      CommonJS) and runs the result with Node 22, --config app-config.yaml (create-app's, on
 *      a free port, README's proxysigv4 block merged in with its target a local upstream that
 *      verifies SigV4 with aws4, plus test keys under aws:) --config app-config.local.yaml
 *      (README's block, as is).
 *   5. README's curl line (the backend's port for 7007) answers 200 with the object the
 *      upstream served, whose signature check passed; with the variable unset, 401.
 *   6. Without PROXY_SIGV4_CURL_TOKEN the backend does what README says: it refuses to start.
 * Prints how long each phase took; exits non-zero with the reason on the first failure; stops
 * every process it started on every way out, Ctrl-C included.
 *
 * `--create-app` (not in CI: 15 minutes or more): step 2 is `npx @backstage/create-app`
 * itself (the whole app, `yarn install` and `yarn tsc` included), and step 4 starts the
 * backend the app's way, `yarn workspace backend start`, with the same two --config files.
 * INSTALL_TEST_KEEP=1 keeps the temporary folder (its path is printed); INSTALL_TEST_DIR=<it>
 * then reuses its installs to work on the later steps.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { freePort, startVerifyingUpstream } from '../localAws';
import { CREATE_APP_VERSION, fetchTemplate, installNode, REGISTRY, writeWorkspace, yarnCommand } from './installWorkspace';
import { readmeInstall } from './readmeInstall';

const ROOT = path.resolve(__dirname, '..');
const APP_NAME = 'install-test-app';
const KEYS = { accessKeyId: 'AKIDINSTALLTEST', secretAccessKey: 'install-test-secret' };
/** What the local upstream serves as the object README's curl asks for. */
const OBJECT = 'Hello from the install test: signed with SigV4, verified by aws4.\n';
const INSTALL_TIMEOUT_MS = 15 * 60_000;
const CREATE_APP_TIMEOUT_MS = 60 * 60_000;
/** `--create-app`: an app made by create-app itself (not in CI: it takes many minutes). */
const CREATE_APP = process.argv.includes('--create-app') ? `@backstage/create-app@${CREATE_APP_VERSION}` : undefined;
/** The whole app's backend (catalog, scaffolder, search, ...) takes longer to start. */
const START_TIMEOUT_MS = CREATE_APP ? 300_000 : 120_000;

/** What Backstage logs when a plugin's start fails. */
const STARTUP_FAILED = 'Backend startup failed';
/** The log's colours (ESC [ ... m). */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');
const stripAnsi = (s: string) => s.replace(ANSI_COLOUR, '');

/** The end of a backend's log, without the request lines of the readiness probes. */
const logTail = (output: string) =>
  stripAnsi(output)
    .split('\n')
    .filter(line => !line.includes('type="incomingRequest"'))
    .join('\n')
    .slice(-4000);

const log = (s: string) => process.stdout.write(`install test: ${s}\n`);
function check(ok: unknown, what: string): void {
  if (!ok) throw new Error(what);
  log(`ok: ${what}`);
}

const timings: Array<[string, number]> = [];
async function phase<T>(name: string, run: () => Promise<T> | T): Promise<T> {
  const started = Date.now();
  log(`-- ${name}`);
  try {
    return await run();
  } finally {
    const seconds = (Date.now() - started) / 1000;
    timings.push([name, seconds]);
    log(`-- ${name}: ${seconds.toFixed(1)} s`);
  }
}

// ---------------------------------------------------------------------------------------
// Child processes: each in its own process group, all stopped on every way out.

const children = new Set<ChildProcess>();

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

async function stopAllChildren(): Promise<void> {
  const running = [...children].filter(c => c.exitCode === null && c.signalCode === null);
  running.forEach(c => stopChild(c));
  const until = Date.now() + 10_000;
  while (running.some(c => c.exitCode === null && c.signalCode === null) && Date.now() < until) {
    await new Promise(r => setTimeout(r, 100));
  }
  running.forEach(c => stopChild(c, 'SIGKILL'));
}

interface Run {
  child: ChildProcess;
  /** Everything it printed, stdout and stderr interleaved. */
  output: () => string;
  exited: Promise<number | null>;
}

function start(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Run {
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  child.stdout!.on('data', d => (output += d));
  child.stderr!.on('data', d => (output += d));
  const exited = new Promise<number | null>(resolve =>
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : null))),
  );
  return { child, output: () => output, exited };
}

/** Runs a command line with bash, exactly as written, and fails with its output's end if it fails. */
async function bash(line: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs = INSTALL_TIMEOUT_MS): Promise<string> {
  log(`$ ${line}   (in ${cwd})`);
  const run = start('bash', ['-c', line], cwd, env);
  // A command past its time gets SIGTERM, then SIGKILL if it ignores it, so that CI never hangs.
  let kill: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    stopChild(run.child);
    kill = setTimeout(() => stopChild(run.child, 'SIGKILL'), 10_000);
  }, timeoutMs);
  const code = await run.exited.finally(() => {
    clearTimeout(timer);
    clearTimeout(kill);
  });
  if (code !== 0) {
    throw new Error(`\`${line}\` exited with ${code} in ${cwd}; its output ends:\n${run.output().slice(-4000)}`);
  }
  return run.output();
}

// ---------------------------------------------------------------------------------------

/** This repository's files as a clone would have them, plus uncommitted work, into `dir`. */
function copyRepository(dir: string): number {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter(f => f !== '');
  let copied = 0;
  for (const file of files) {
    const from = path.join(ROOT, file);
    if (!fs.existsSync(from)) continue; // deleted in the work tree, not yet in the index
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.cpSync(from, path.join(dir, file), { verbatimSymlinks: true });
    copied++;
  }
  return copied;
}

async function waitReady(port: number, run: Run, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until && run.child.exitCode === null && run.child.signalCode === null) {
    try {
      // Ready only once every plugin has started.
      if ((await fetch(`http://127.0.0.1:${port}/.backstage/health/v1/readiness`, { signal: AbortSignal.timeout(5_000) })).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise(r => setTimeout(r, 250));
  }
  return false;
}

/** Runs README's curl line with bash; a .curlrc (CURL_HOME) adds the status after the body. */
async function curl(line: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ status: number; body: string }> {
  const out = await bash(line, cwd, env, 60_000);
  const at = out.lastIndexOf('\n');
  return { status: Number(out.slice(at + 1)), body: out.slice(0, at) };
}

/** The temporary folder: the app, the copy of this repository, the tools. */
let work: string | undefined;

async function main(): Promise<void> {
  const readme = readmeInstall(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  check(
    readme.tarball === `${pkg.name}-${pkg.version}.tgz`,
    `README's add command names ${readme.tarball}, package.json's name and version`,
  );

  // INSTALL_TEST_DIR: a folder kept by an earlier run, whose installs are reused (to work on
  // the later phases); the README commands that made them are then not run again.
  const reuse = process.env.INSTALL_TEST_DIR;
  const dir = reuse ?? fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-sigv4-install-'));
  if (!reuse) work = dir;
  const app = path.join(dir, 'app');
  const pluginDir = path.join(dir, 'plugin');
  const backendDir = path.join(app, 'packages', 'backend');
  const upstream = await startVerifyingUpstream({ [KEYS.accessKeyId]: KEYS });
  upstream.handler = (req, res, received) => {
    const ok = !received.signatureError && req.method === 'GET';
    res.writeHead(ok ? 200 : 403, { 'content-type': ok ? 'text/plain' : 'application/xml' });
    res.end(ok ? OBJECT : `<Error><Code>${received.errorCode ?? 'AccessDenied'}</Code></Error>`);
  };
  try {
    // 1. Tools
    const { node, env, template } = await phase('tools: Node 22, create-app template, Yarn 4', () => {
      const node22 = installNode();
      const appTemplate = fetchTemplate(dir);
      yarnCommand(appTemplate, node22, path.join(dir, 'bin'));
      const curlHome = path.join(dir, 'curl');
      fs.mkdirSync(curlHome, { recursive: true });
      fs.writeFileSync(path.join(curlHome, '.curlrc'), 'silent\nshow-error\nmax-time = 30\nwrite-out = "\\n%{http_code}"\n');
      // The user's shell: Node 22 and Yarn first on PATH, the machine's npm.
      const shell: NodeJS.ProcessEnv = {
        ...process.env,
        PATH: `${path.join(dir, 'bin')}:${node22.bin}:${process.env.PATH}`,
        // This machine reaches only the npm registry: Yarn uses it (Yarn's default is its own
        // mirror), and node-gyp compiles better-sqlite3 with the headers in Node 22's package
        // instead of downloading them.
        YARN_NPM_REGISTRY_SERVER: REGISTRY,
        npm_config_nodedir: node22.nodedir,
        // Under CI=true Yarn forbids changing the lockfile; a user's terminal does not.
        YARN_ENABLE_IMMUTABLE_INSTALLS: 'false',
        YARN_ENABLE_TELEMETRY: '0',
        CURL_HOME: curlHome,
      };
      delete shell.PROXY_SIGV4_CURL_TOKEN;
      delete shell.PLUGIN_DIR;
      const versions = `node ${execFileSync('node', ['--version'], { env: shell, encoding: 'utf8' }).trim()}, yarn ${execFileSync('yarn', ['--version'], { env: shell, cwd: dir, encoding: 'utf8' }).trim()}, npm ${execFileSync('npm', ['--version'], { env: shell, encoding: 'utf8' }).trim()}`;
      check(versions.startsWith('node v22.') && / yarn 4\./.test(versions), `on PATH: ${versions}`);
      return { node: node22, env: shell, template: appTemplate };
    });

    // 2. The app, installed as create-app installs it.
    await phase(CREATE_APP ? `app: npx ${CREATE_APP}` : 'app: from the template, yarn install', async () => {
      if (CREATE_APP && !reuse) {
        // create-app asks for the name unless BACKSTAGE_APP_NAME is set; --path puts the app
        // there. It would then run `yarn install` and `yarn tsc`: the test runs them itself
        // (--skip-install), because of the seed below.
        const made = await bash(`npx --yes ${CREATE_APP} --path app --skip-install`, dir, { ...env, BACKSTAGE_APP_NAME: APP_NAME }, CREATE_APP_TIMEOUT_MS);
        if (/Failed to fetch the yarn\.lock seed/.test(made)) {
          // create-app seeds yarn.lock from GitHub (unreachable here). Without the seed Yarn
          // takes the newest versions in range, and today those do not start (plugin
          // 'signals' 0.3.21 needs httpRouter.addWebSocketHandler, which backend-defaults
          // 0.18 lacks). As a stand-in for the seed, the @backstage packages the app names are
          // pinned to create-app's own version table (root resolutions).
          log('create-app could not fetch its yarn.lock seed: pinning the app\'s @backstage packages to create-app\'s versions');
          const rootPkg = JSON.parse(fs.readFileSync(path.join(app, 'package.json'), 'utf8'));
          for (const ws of ['packages/app', 'packages/backend']) {
            const wsPkg = JSON.parse(fs.readFileSync(path.join(app, ws, 'package.json'), 'utf8'));
            for (const [dep, range] of Object.entries<string>({ ...wsPkg.dependencies, ...wsPkg.devDependencies })) {
              if (dep.startsWith('@backstage/') && template.versions[dep] && range === `^${template.versions[dep]}`) {
                rootPkg.resolutions = { ...rootPkg.resolutions, [dep]: template.versions[dep] };
              }
            }
          }
          fs.writeFileSync(path.join(app, 'package.json'), `${JSON.stringify(rootPkg, null, 2)}\n`);
        }
        await bash('yarn install', app, env, CREATE_APP_TIMEOUT_MS);
        await bash('yarn tsc', app, env, CREATE_APP_TIMEOUT_MS);
      } else if (!CREATE_APP) {
        writeWorkspace(template, app, APP_NAME);
        if (reuse && fs.existsSync(path.join(app, 'node_modules'))) log(`reusing ${app}/node_modules`);
        else await bash('yarn install', app, env);
      }
      check(
        fs.existsSync(path.join(app, 'node_modules', '@backstage', 'backend-defaults', 'package.json')),
        `yarn install: @backstage/backend-defaults ${require(path.join(app, 'node_modules', '@backstage', 'backend-defaults', 'package.json')).version}`,
      );
    });

    // 3. README's commands.
    await phase(`plugin: ${readme.buildCommand}`, async () => {
      if (reuse && fs.existsSync(path.join(pluginDir, readme.tarball))) {
        log(`reusing ${pluginDir}`);
      } else {
        fs.mkdirSync(pluginDir);
        log(`copied ${copyRepository(pluginDir)} files of this repository into ${pluginDir}`);
        await bash(readme.buildCommand, pluginDir, env);
      }
      const written = fs.readdirSync(pluginDir).filter(f => f.endsWith('.tgz'));
      check(written.length === 1 && written[0] === readme.tarball, `the build wrote ${written.join(', ')}, the file README names`);
    });
    await phase(`app: ${readme.addCommand}`, async () => {
      await bash(readme.addCommand, app, { ...env, PLUGIN_DIR: pluginDir });
      const backendPkg = JSON.parse(fs.readFileSync(path.join(backendDir, 'package.json'), 'utf8'));
      const installed = path.join(app, 'node_modules', pkg.name, 'package.json');
      check(
        backendPkg.dependencies[pkg.name] && fs.existsSync(installed) && require(installed).version === pkg.version,
        `packages/backend depends on ${pkg.name} (${backendPkg.dependencies[pkg.name]}), ${pkg.version} installed`,
      );
    });

    // 4. README's backend line and configuration.
    const port = await freePort();
    const configs = [path.join(app, 'app-config.yaml'), path.join(app, 'app-config.local.yaml')];
    const script = path.join(backendDir, 'dist', 'index.cjs.js');
    const routeAndPath = await phase('app: README backend line and configuration', () => {
      const indexTs = path.join(backendDir, 'src', 'index.ts');
      const index = fs.readFileSync(indexTs, 'utf8');
      check(index.split('\nbackend.start();\n').length === 2, 'src/index.ts has one `backend.start();`');
      fs.writeFileSync(indexTs, index.replace('\nbackend.start();\n', `\n${readme.backendLine}\n\nbackend.start();\n`));
      if (!CREATE_APP) {
        const ts = require('typescript');
        const out = ts.transpileModule(fs.readFileSync(indexTs, 'utf8'), {
          compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
          fileName: 'index.ts',
        });
        fs.mkdirSync(path.dirname(script), { recursive: true });
        fs.writeFileSync(script, out.outputText);
      }

      // README's block merged into create-app's app-config.yaml, as a user appends it: no
      // key may be there twice (YAML refuses duplicate keys).
      const merged = YAML.parseDocument(`${fs.readFileSync(configs[0], 'utf8')}\n${readme.appConfig}`);
      check(merged.errors.length === 0, `README's app-config block merges into create-app's app-config.yaml${merged.errors.length ? `: ${merged.errors[0].message}` : ''}`);
      const block = YAML.parse(readme.appConfig);
      const routes = Object.keys(block?.proxysigv4 ?? {}).filter(k => k.startsWith('/'));
      check(
        Object.keys(block).join() === 'proxysigv4' && routes.length === 1,
        `README's app-config block has proxysigv4 only, with one route (${routes.join(', ')})`,
      );
      const route = routes[0];
      const given = block.proxysigv4[route];
      check(/^https:\/\/[^/]+\.s3\.[^/]+\.amazonaws\.com\/?$/.test(typeof given === 'string' ? given : given.target), `README's route ${route} targets an S3 bucket`);
      // The test's changes: a free port, the local upstream (which says neither service nor
      // region, as an AWS host name does), test credentials, no call to STS at start.
      merged.setIn(['backend', 'listen', 'port'], port);
      merged.setIn(['backend', 'baseUrl'], `http://localhost:${port}`);
      merged.setIn(['proxysigv4', route], { ...(typeof given === 'string' ? {} : given), target: upstream.url, service: 's3', region: 'eu-west-1' });
      merged.setIn(['proxysigv4', 'checkCredentialsOnStart'], false);
      merged.set('aws', { mainAccount: KEYS });
      fs.writeFileSync(configs[0], merged.toString());
      fs.writeFileSync(configs[1], readme.appConfigLocal);
      return { route };
    });

    const configArgs = configs.flatMap(c => ['--config', c]);
    const startBackend = (extra: NodeJS.ProcessEnv) =>
      CREATE_APP
        ? // The app's own way: backstage-cli package start, with the app's Node and Yarn.
          start('yarn', ['workspace', 'backend', 'start', ...configArgs], app, { ...env, ...extra })
        : start(node.node, [script, ...configArgs], backendDir, { ...env, ...extra, NODE_ENV: 'development' });

    // 5. README's curl.
    const curlLine = readme.curl.replaceAll('localhost:7007', `localhost:${port}`);
    await phase('backend: start with Node 22, README curl', async () => {
      const token = require('node:crypto').randomBytes(24).toString('base64url');
      const backend = startBackend({ PROXY_SIGV4_CURL_TOKEN: token });
      const ready = await waitReady(port, backend, START_TIMEOUT_MS);
      check(ready, `the backend started with the plugin on Node 22${ready ? '' : `; its log ends:\n${logTail(backend.output())}`}`);
      const anonymous = await curl(curlLine, app, env);
      check(
        anonymous.status === 401 && upstream.received.length === 0,
        `README's curl with PROXY_SIGV4_CURL_TOKEN unset: ${anonymous.status}, nothing sent upstream`,
      );
      const answer = await curl(curlLine, app, { ...env, PROXY_SIGV4_CURL_TOKEN: token });
      const received = upstream.received[0];
      const expectedPath = new URL(curlLine.split(/\s+/).find(w => /^https?:/.test(w))!).pathname.replace(`/api/proxy-sigv4${routeAndPath.route}`, '');
      check(
        answer.status === 200 && answer.body === OBJECT,
        `README's curl: ${answer.status}, the object the upstream served${answer.body === OBJECT ? '' : `; body ${JSON.stringify(answer.body.slice(0, 300))}`}`,
      );
      check(
        received && received.url === expectedPath && received.signatureError === undefined && received.service === 's3' && received.region === 'eu-west-1',
        `upstream received GET ${received?.url}, signed for s3 in eu-west-1, signature ${received?.signatureError ?? 'verified by aws4'}`,
      );
      stopChild(backend.child);
      await backend.exited;
    });

    // 6. README says: without the variable, Backstage refuses to start the backend. Observed
    // with Backstage 1.55: it logs "Backend startup failed" (the missing token, for every
    // plugin that asks for the auth service) and stays up, never ready, without exiting.
    await phase('backend: start without PROXY_SIGV4_CURL_TOKEN', async () => {
      const backend = startBackend({});
      const failed = () => stripAnsi(backend.output()).includes(STARTUP_FAILED);
      const until = Date.now() + START_TIMEOUT_MS;
      while (!failed() && backend.child.exitCode === null && Date.now() < until) await new Promise(r => setTimeout(r, 250));
      // A few seconds more, to see whether it exits by itself.
      const exitedBy = Date.now() + 5_000;
      while (backend.child.exitCode === null && Date.now() < exitedBy) await new Promise(r => setTimeout(r, 250));
      const exitCode = backend.child.exitCode;
      const readiness = await fetch(`http://127.0.0.1:${port}/.backstage/health/v1/readiness`, { signal: AbortSignal.timeout(5_000) }).then(
        r => String(r.status),
        () => 'no connection',
      );
      const text = stripAnsi(backend.output());
      // The logged error, without the log fields (type=..., stack=...) that follow it.
      const message = failed()
        ? text.slice(text.indexOf(STARTUP_FAILED)).split(' type="')[0].trim()
        : `(no "${STARTUP_FAILED}"; the log ends:)\n${logTail(text)}`;
      stopChild(backend.child);
      await backend.exited;
      check(
        failed() && /Missing required config value at 'backend\.auth\.externalAccess\[0\]\.options\.token'/.test(message),
        `without PROXY_SIGV4_CURL_TOKEN Backstage says:\n${message}`,
      );
      check(
        readiness !== '200',
        `without PROXY_SIGV4_CURL_TOKEN the backend never became ready (readiness: ${readiness}); ${exitCode === null ? 'it kept running, without exiting' : `it exited with ${exitCode}`}`,
      );
    });

    const total = timings.reduce((sum, [, seconds]) => sum + seconds, 0);
    log(`passed in ${total.toFixed(0)} s:\n${timings.map(([n, seconds]) => `  ${seconds.toFixed(1).padStart(6)} s  ${n}`).join('\n')}`);
  } finally {
    await upstream.close();
  }
}

async function cleanUp(): Promise<void> {
  await stopAllChildren();
  if (!work) return;
  if (process.env.INSTALL_TEST_KEEP) log(`kept ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`install test: stopped by ${signal}\n`);
    cleanUp().finally(() => process.exit(1));
  });
}

main().then(
  () => cleanUp().then(() => process.exit(0)),
  error => {
    process.stderr.write(`install test FAILED: ${error?.message ?? error}\n`);
    cleanUp().finally(() => process.exit(1));
  },
);

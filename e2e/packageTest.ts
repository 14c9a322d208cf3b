/*
 * The packaging test (`npm run test:package`): packs the plugin with `npm pack`, installs the
 * tarball into a fresh Backstage backend (`@backstage/backend-defaults` `createBackend`) in a
 * temporary folder, as a user would, and checks that:
 *   - Backstage loads the plugin's config schema (config.schema.json): a good configuration
 *     passes, a wrong type is refused, and only the secret fields are kept for `secret`;
 *   - the backend starts with the plugin and serves: a request with a token is signed and
 *     the signature verified by an upstream with aws4; one without a token gets 401.
 * Exits non-zero with the reason on the first failure. Needs the npm registry (or its cache).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backendConfigYaml, freePort, startVerifyingUpstream } from '../localAws';

const ROOT = path.resolve(__dirname, '..');
const TOKEN = 'package-test-token';
const KEYS = { accessKeyId: 'AKIDPACKAGETEST', secretAccessKey: 'package-test-secret' };
const log = (s: string) => process.stdout.write(`package test: ${s}\n`);

function check(ok: unknown, what: string): void {
  if (!ok) throw new Error(what);
  log(`ok: ${what}`);
}

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function waitForPort(port: number, child: ChildProcess, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`the backend exited with ${child.exitCode}`);
    try {
      // Ready only once every plugin has started.
      if ((await fetch(`http://127.0.0.1:${port}/.backstage/health/v1/readiness`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise(r => setTimeout(r, 250));
  }
  throw new Error(`the backend did not listen on ${port} within ${ms} ms`);
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-sigv4-package-'));
  let backend: ChildProcess | undefined;
  const upstream = await startVerifyingUpstream({ [KEYS.accessKeyId]: KEYS });
  try {
    // 1. Pack, as `npm publish` would.
    const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', work], ROOT))[0];
    const tarball = path.join(work, packed.filename);
    const files: string[] = packed.files.map((f: { path: string }) => f.path);
    // (Backstage's prepack turns config.d.ts into config.schema.json, and points to it.)
    check(
      ['dist/index.cjs.js', 'dist/index.d.ts', 'config.schema.json'].every(f => files.includes(f)),
      `the tarball holds dist/index.cjs.js, dist/index.d.ts and config.schema.json (${files.length} files)`,
    );
    check(
      !files.some(f => /^(src|bench|dev|e2e|localAws)\//.test(f)),
      'the tarball holds no sources, tests, demo, benchmark or local AWS stand-ins',
    );
    // README's relative links (docs/...) resolve inside the package, as a reader of
    // node_modules or of the registry's file browser follows them.
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const linked = [...readme.matchAll(/\]\(((?!https?:|#)[^)#\s]+)/g)].map(m => path.normalize(m[1]));
    const missing = linked.filter(f => !files.includes(f));
    check(linked.length > 5 && missing.length === 0, `every file README links to is in the tarball (${linked.length} links; missing: ${missing.join(', ') || 'none'})`);
    // The package.json users install: prepack adds config.schema.json to `files`, so the
    // source must not list it too.
    const packedJson = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
    check(
      packedJson.files.includes('config.schema.json') && new Set(packedJson.files).size === packedJson.files.length,
      `the packed package.json lists each file once, config.schema.json included (${packedJson.files.join(', ')})`,
    );
    check(
      ['README.md', 'LICENSE', 'CHANGELOG.md'].every(f => files.includes(f)),
      'the tarball holds README.md, LICENSE and CHANGELOG.md',
    );
    // The version is a release the changelog describes (Keep a Changelog headings).
    const changelog = fs.readFileSync(path.join(ROOT, 'CHANGELOG.md'), 'utf8');
    const released = [...changelog.matchAll(/^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$/gm)].map(m => m[1]);
    check(
      /^\d+\.\d+\.\d+$/.test(packed.version) && released[0] === packed.version,
      `the packed version ${packed.version} is the newest release in CHANGELOG.md (${released[0]})`,
    );

    // 2. A fresh backend that depends on the tarball.
    const app = path.join(work, 'backend');
    fs.mkdirSync(app);
    const backendDefaults = require('@backstage/backend-defaults/package.json').version;
    // The database driver a backend brings (Backstage's auth keeps its keys in the database).
    const betterSqlite = require('better-sqlite3/package.json').version;
    fs.writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({
        name: 'fresh-backend',
        private: true,
        dependencies: {
          '@backstage/backend-defaults': backendDefaults,
          'better-sqlite3': betterSqlite,
          'backstage-plugin-proxy-sigv4-backend': `file:${tarball}`,
        },
        // See docs/development.md: npm cannot resolve @yarnpkg/core 4.9.2's patch: dependency.
        overrides: { '@yarnpkg/core': '4.9.1' },
      }),
    );
    npm(['install', '--prefer-offline', '--no-audit', '--no-fund'], app);
    log(`installed into a fresh backend with @backstage/backend-defaults ${backendDefaults}`);

    // 3. Backstage loads the plugin's config schema.
    const schemaCheck = `
      const { loadConfigSchema } = require('@backstage/config-loader');
      (async () => {
        const schema = await loadConfigSchema({ dependencies: ['backstage-plugin-proxy-sigv4-backend'] });
        const route = { target: 'https://x.execute-api.eu-west-1.amazonaws.com', roleArn: 'arn:aws:iam::123456789012:role/r', externalId: 'EXTERNAL', credentialsEndpoint: { url: 'https://h.example', headers: { 'x-key': 'KEY' } } };
        const out = {};
        try { schema.process([{ context: 't', data: { app: {}, backend: { baseUrl: 'http://x' }, proxysigv4: { checkCredentialsOnStart: 'yes' } } }]); out.badType = 'accepted'; }
        catch (e) { out.badType = e.message; }
        try { schema.process([{ context: 't', data: { app: {}, backend: { baseUrl: 'http://x' }, proxysigv4: { '/r': { target: route.target, servic: 's3' } } } }]); out.typo = 'accepted'; }
        catch (e) { out.typo = e.message; }
        const secret = schema.process([{ context: 't', data: { proxysigv4: { '/r': route } } }], { visibility: ['secret'] });
        out.secret = secret[0].data;
        process.stdout.write(JSON.stringify(out));
      })().catch(e => { process.stderr.write(String(e.stack)); process.exit(1); });`;
    const schema = JSON.parse(execFileSync(process.execPath, ['-e', schemaCheck], { cwd: app, encoding: 'utf8' }));
    check(
      /proxysigv4\/checkCredentialsOnStart/.test(schema.badType) && /must be boolean/.test(schema.badType),
      'the schema refuses proxysigv4.checkCredentialsOnStart: "yes"',
    );
    check(
      /propertyName=servic\b/.test(schema.typo) && /proxysigv4\/\/r\b/.test(schema.typo),
      'the schema refuses an unknown field inside a route (servic:), naming the route',
    );
    check(
      JSON.stringify(schema.secret) ===
        JSON.stringify({ proxysigv4: { '/r': { externalId: 'EXTERNAL', credentialsEndpoint: { headers: { 'x-key': 'KEY' } } } } }),
      'the schema marks externalId and credentialsEndpoint.headers secret, and nothing else',
    );

    // 4. The backend starts with the plugin and serves.
    const port = await freePort();
    fs.writeFileSync(
      path.join(app, 'app-config.yaml'),
      `${backendConfigYaml(port, TOKEN, 'package-test')}aws:
  mainAccount: { accessKeyId: ${KEYS.accessKeyId}, secretAccessKey: ${KEYS.secretAccessKey} }
proxysigv4:
  checkCredentialsOnStart: false
  '/up': { target: '${upstream.url}/base', service: execute-api, region: eu-west-1 }
`,
    );
    fs.writeFileSync(
      path.join(app, 'index.js'),
      `const { createBackend } = require('@backstage/backend-defaults');
const backend = createBackend();
backend.add(require('backstage-plugin-proxy-sigv4-backend'));
backend.start();
`,
    );
    backend = spawn(process.execPath, ['index.js', '--config', 'app-config.yaml'], {
      cwd: app,
      env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await waitForPort(port, backend, 60_000);
    log('the backend started with the packed plugin');

    const url = `http://127.0.0.1:${port}/api/proxy-sigv4/up/items/1?q=a+b`;
    const anonymous = await fetch(url);
    check(anonymous.status === 401 && upstream.received.length === 0, `without a token: ${anonymous.status}, nothing sent upstream`);
    const signed = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    const received = upstream.received[0];
    check(
      signed.status === 200 && received?.url === '/base/items/1?q=a%20b' && received.signatureError === undefined,
      `with a token: ${signed.status}, arrived as ${received?.url}, signature ${received?.signatureError ?? 'verified by aws4'}`,
    );
    log('passed');
  } finally {
    backend?.kill('SIGTERM');
    await upstream.close();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  error => {
    process.stderr.write(`package test FAILED: ${error?.message ?? error}\n`);
    process.exit(1);
  },
);

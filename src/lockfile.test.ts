/*
 * `npm ci` on a fresh clone, on any platform, needs the lockfile to hold every platform's
 * optional packages (`@swc/core-darwin-arm64`, `@rollup/rollup-win32-x64-msvc`, ...): npm ci
 * refuses a lockfile that lacks an optional dependency some package names. An `npm install`
 * that trims them (as some npm versions did) would break README's first command for everyone
 * on another platform; this test finds that before CI's clean checkout does.
 */
import fs from 'node:fs';
import path from 'node:path';

interface LockEntry {
  optionalDependencies?: Record<string, string>;
}

const lock = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../package-lock.json'), 'utf8'));
const packages: Record<string, LockEntry> = lock.packages;

/** Where Node would find `name` from the package at `from` (its own node_modules, then up). */
function resolves(from: string, name: string): boolean {
  let dir = from;
  for (;;) {
    if (packages[`${dir ? `${dir}/` : ''}node_modules/${name}`]) return true;
    if (!dir) return false;
    const up = dir.lastIndexOf('/node_modules/');
    dir = up < 0 ? '' : dir.slice(0, up);
  }
}

it('holds every optional dependency of every locked package, for every platform', () => {
  const optional = Object.entries(packages).flatMap(([at, entry]) =>
    Object.keys(entry.optionalDependencies ?? {}).map(name => ({ at, name })),
  );
  // The platform packages of the build tools are among them (or the test checks nothing).
  expect(optional.map(o => o.name)).toEqual(
    expect.arrayContaining(['@swc/core-darwin-arm64', '@swc/core-win32-x64-msvc', '@rollup/rollup-linux-arm64-gnu']),
  );
  expect(optional.filter(o => !resolves(o.at, o.name)).map(o => `${o.at || '(root)'} -> ${o.name}`)).toEqual([]);
});

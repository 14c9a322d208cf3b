/*
 * The long run of the generated attacks (`npm run test:generated`): the same properties as
 * CI (src/service/generated*.test.ts), with many more cases and a fresh seed each time.
 *   FC_RUNS  cases of a property whose CI count is 100 (default 2000; the others scale alike)
 *   FC_SEED  the seed (default: a random one, printed first, so that a failure can be replayed)
 *   FC_PATH  with FC_SEED, replays one failure's shrink path (fast-check prints both)
 *   FC_VERBOSE=1  lists every failing case met while shrinking
 * Further arguments go to jest (`-t 'no secret'` runs one property).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const runs = process.env.FC_RUNS ?? '2000';
const seed = process.env.FC_SEED ?? String(Math.floor(Math.random() * 2 ** 31));

console.log(`generated attacks: FC_RUNS=${runs} FC_SEED=${seed}${process.env.FC_PATH ? ` FC_PATH=${process.env.FC_PATH}` : ''}`);
const child = spawn(
  'npx',
  [
    'backstage-cli', 'package', 'test', '--watchAll=false', '--runInBand',
    'src/service/generated',
    ...process.argv.slice(2),
  ],
  { cwd: ROOT, stdio: 'inherit', env: { ...process.env, FC_RUNS: runs, FC_SEED: seed } },
);
child.on('exit', (code, signal) => {
  console.log(`generated attacks: FC_RUNS=${runs} FC_SEED=${seed}: ${code === 0 ? 'passed' : `failed (${signal ?? code})`}`);
  process.exit(code ?? 1);
});

/*
 * A real Backstage backend for the benchmark, run as its own process: `createBackend` from
 * @backstage/backend-defaults with either this plugin (`ours`) or @backstage/plugin-proxy-backend
 * (`baseline`, the unsigned proxy). Its configuration comes from the `--config` file the
 * orchestrator wrote, as for any Backstage backend.
 *
 * Started with --expose-gc: on SIGUSR2 it collects garbage, so that the orchestrator can tell
 * memory that is retained from memory the garbage collector has not yet reclaimed.
 */
import { createBackend } from '@backstage/backend-defaults';

async function main() {
  const which = process.argv[2];
  process.on('SIGUSR2', () => {
    (globalThis as { gc?: () => void }).gc?.();
  });
  const backend = createBackend();
  if (which === 'ours') {
    backend.add(import('../src'));
  } else if (which === 'baseline') {
    backend.add(import('@backstage/plugin-proxy-backend'));
  } else {
    throw new Error(`unknown backend '${which}': ours or baseline`);
  }
  await backend.start();
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const stop = async () => {
    await backend.stop();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch(error => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});

/*
 * A real Backstage backend for the benchmark, run as its own process: `createBackend` from
 * @backstage/backend-defaults with either this plugin (`ours`) or @backstage/plugin-proxy-backend
 * (`baseline`, the unsigned proxy). Its configuration comes from the `--config` file the
 * orchestrator wrote, as for any Backstage backend.
 *
 * It answers the orchestrator's memory questions (bench/memoryProbe.ts).
 */
import { createBackend } from '@backstage/backend-defaults';
import { answerMemoryQuestions } from './memoryProbe';

async function main() {
  const which = process.argv[2];
  answerMemoryQuestions();
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
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= backend.stop().then(() => process.exit(0));
    return stopping;
  };
  process.once('disconnect', stop); // the orchestrator has gone
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch(error => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});

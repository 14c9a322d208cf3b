/*
 * The standalone backend that `npm start` runs: a real Backstage backend with this plugin,
 * a local S3 (s3rver, with every SigV4 signature checked by aws4 in front of it) holding
 * a seeded bucket, and a local STS that issues role credentials the S3 accepts, so that
 * the routes work offline with no AWS account.
 */
import { createBackend } from '@backstage/backend-defaults';
import { coreServices, createBackendModule } from '@backstage/backend-plugin-api';
import {
  AcceptedCredentials,
  listenError,
  S3RVER_CREDENTIALS,
  startLocalSts,
  startVerifyingS3,
} from '../localAws';

/** The backend's port: `backend.listen.port` in app-config.yaml, which README's curls use. */
const DEFAULT_BACKEND_PORT = 7007;
const BACKEND_PORT = Number(process.env.DEMO_BACKEND_PORT ?? DEFAULT_BACKEND_PORT);
const DEFAULT_S3_PORT = 4569;
const DEFAULT_STS_PORT = 4570;
const DEMO_S3_PORT = Number(process.env.DEMO_S3_PORT ?? DEFAULT_S3_PORT);
const DEMO_STS_PORT = Number(process.env.DEMO_STS_PORT ?? DEFAULT_STS_PORT);
const DEMO_TOKEN = 'demo-token-for-local-use-only';

// The AWS SDK warns, on Node 20, that its releases after January 2027 will need Node 22: true,
// but not about this demo, and the warning's nine lines hide the list of what to try.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** backstage-cli, which runs this file: captured now, so that nothing else is ever signalled. */
const CLI_PID = process.env.BACKSTAGE_CLI_CHANNEL ? process.ppid : undefined;
/** How long a stop may take before the demo exits without waiting for it. */
const STOP_LIMIT_MS = 10_000;
/** The terminal's Ctrl-C and the one backstage-cli forwards arrive within this of each other. */
const SAME_CTRL_C_MS = 1_000;

/** A start-up failure that needs no stack trace: its message says what to do. */
class DemoStartError extends Error {}

/** Refuses to start, with a plain message, when a port the demo needs is taken. */
async function assertFree(port: number, host: string | undefined, what: string): Promise<void> {
  const error = await listenError(port, host);
  if (error) {
    throw new DemoStartError(
      error.code === 'EADDRINUSE'
        ? `port ${port} (${what}) is already in use: is another \`npm start\` running? ` +
          `Stop it, or find what holds the port with \`ss -ltnp | grep :${port}\`.`
        : `cannot listen on port ${port} (${what}): ${error.message}`,
    );
  }
}

/**
 * backstage-cli's `package start` keeps running after this process ends (it waits for a
 * file change to restart it). After a failed start it is asked to stop too, so that
 * `npm start` ends instead of hanging. (It then exits with 0, as after Ctrl-C; a signal it does
 * not handle would give a non-zero status, but also a shell's "Hangup" and an orphan.)
 */
function failAndStop(message: string): never {
  process.stderr.write(`\nnpm start failed: ${message}\n\n`);
  // Only while backstage-cli is still this process's parent: if it has gone, the parent
  // is whatever adopted this process, which must not be signalled.
  if (CLI_PID !== undefined && CLI_PID > 1 && process.ppid === CLI_PID) {
    try {
      process.kill(CLI_PID, 'SIGTERM');
    } catch {
      // the parent is gone already
    }
  }
  process.exit(1);
}

/** Local servers started so far, closed by a Ctrl-C that comes before the backend is up. */
const localServers: Array<{ close(): Promise<void> }> = [];
/** What Ctrl-C does now: until the backend has started, close what has started and exit. */
let onSignal = () => {
  void Promise.allSettled(localServers.map(server => server.close())).then(() =>
    process.exit(130),
  );
};
const signalled = () => onSignal();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, signalled);
}

async function main() {
  await assertFree(BACKEND_PORT, undefined, 'the backend, backend.listen.port in app-config.yaml; another one with DEMO_BACKEND_PORT=<port>');
  await assertFree(DEMO_S3_PORT, '127.0.0.1', 'the local S3; another one with DEMO_S3_PORT=<port>');
  await assertFree(DEMO_STS_PORT, '127.0.0.1', 'the local STS; another one with DEMO_STS_PORT=<port>');

  // What the local STS issues, the local S3 accepts.
  const accepted: AcceptedCredentials = {};
  const sts = await startLocalSts({
    sources: {
      [S3RVER_CREDENTIALS.accessKeyId]: {
        ...S3RVER_CREDENTIALS,
        arn: 'arn:aws:iam::000000000000:user/demo-backstage',
      },
    },
    accepted,
    port: DEMO_STS_PORT,
  });
  localServers.push(sts);
  const s3 = await startVerifyingS3(['demo-bucket'], {
    port: DEMO_S3_PORT,
    accepted,
    seed: {
      'demo-bucket/hello.txt': 'Hello from S3, signed with SigV4 and verified.\n',
      'demo-bucket/docs/readme.md': '# A nested object\n',
    },
  });
  localServers.push(s3);
  const closeLocalServers = () => Promise.all([s3.close(), sts.close()]);

  // app-config.yaml's routes point at the default ports; other ones are passed to the
  // config as an override (Backstage reads APP_CONFIG_* when the backend starts).
  if (DEMO_S3_PORT !== DEFAULT_S3_PORT || DEMO_STS_PORT !== DEFAULT_STS_PORT) {
    const route = { target: `${s3.url}/demo-bucket`, stsEndpoint: sts.url };
    process.env.APP_CONFIG_proxysigv4 = JSON.stringify({ '/demo': route, '/demo-role': route });
  }
  if (BACKEND_PORT !== DEFAULT_BACKEND_PORT) {
    process.env.APP_CONFIG_backend_listen_port = String(BACKEND_PORT);
    process.env.APP_CONFIG_backend_baseUrl = JSON.stringify(`http://localhost:${BACKEND_PORT}`);
  }

  const backend = createBackend();
  backend.add(import('../src'));
  // The local S3 and STS close as part of the backend's stop, and s3rver's folder is removed.
  backend.add(
    createBackendModule({
      pluginId: 'proxy-sigv4',
      moduleId: 'demo-local-aws',
      register(env) {
        env.registerInit({
          deps: { lifecycle: coreServices.rootLifecycle },
          async init({ lifecycle }) {
            lifecycle.addShutdownHook(async () => {
              await closeLocalServers();
              process.stdout.write('\nStopped the backend, the local S3 and the local STS.\n');
            });
          },
        });
      },
    }),
  );
  try {
    await backend.start();
  } catch (error) {
    await closeLocalServers();
    throw error;
  }

  // Ctrl-C in a terminal sends SIGINT to this process twice: once from the terminal, and once
  // forwarded by backstage-cli. Backstage's own handler exits at once on the second (its
  // backend has already left its registry), before the shutdown hooks have run; so it is
  // replaced by one that stops the backend once for that pair. A Ctrl-C pressed again later,
  // or a stop that takes longer than STOP_LIMIT_MS, ends the demo without waiting.
  let stoppingSince: number | undefined;
  onSignal = () => {
    if (stoppingSince !== undefined) {
      if (Date.now() - stoppingSince > SAME_CTRL_C_MS) {
        process.stderr.write('\nCtrl-C again: exiting without waiting for the stop to finish.\n');
        process.exit(130);
      }
      return;
    }
    stoppingSince = Date.now();
    setTimeout(() => {
      process.stderr.write(`\nThe demo did not stop within ${STOP_LIMIT_MS / 1000} s: exiting.\n`);
      process.exit(1);
    }, STOP_LIMIT_MS).unref();
    backend.stop().then(
      () => process.exit(0),
      error => {
        process.stderr.write(`stopping the demo failed: ${error?.stack ?? error}\n`);
        process.exit(1);
      },
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    for (const listener of process.listeners(signal)) {
      if (listener !== signalled) process.off(signal, listener);
    }
  }

  const api = `http://localhost:${BACKEND_PORT}/api/proxy-sigv4`;
  const auth = `-H 'Authorization: Bearer ${DEMO_TOKEN}'`;
  // The same commands, in the same order, as README's "Try it" section (npm run test:demo
  // runs README's and checks that this list matches them).
  const rule = '-'.repeat(78);
  process.stdout.write(
    [
      '',
      rule,
      `The demo is running: the backend on http://localhost:${BACKEND_PORT}, a local S3 (s3rver`,
      `behind a SigV4 check) on ${s3.url} with demo-bucket, a local STS on ${sts.url}.`,
      'Try, from this folder:',
      '',
      `curl ${auth} ${api}/demo/hello.txt`,
      `curl ${auth} '${api}/demo?list-type=2'`,
      `curl ${auth} -H 'content-type: application/json' \\`,
      `     -X PUT --data-binary @package.json ${api}/demo/uploaded.json`,
      `curl ${api}/demo/hello.txt    # no Backstage token: 401`,
      `curl ${auth} ${api}/demo-role/hello.txt`,
      `curl ${auth} ${api}/_routes`,
      '',
      'Ctrl-C stops all three servers.',
      rule,
      '',
    ].join('\n'),
  );
}

main().catch(error =>
  failAndStop(error instanceof DemoStartError ? error.message : (error?.stack ?? String(error))),
);

/*
 * The standalone backend that `npm start` runs: a real Backstage backend with this plugin,
 * and a local S3 (s3rver, with every SigV4 signature checked by aws4 in front of it) holding
 * a seeded bucket, so that a route works offline with no AWS account.
 */
import { createBackend } from '@backstage/backend-defaults';
import { startVerifyingS3 } from '../src/__testUtils__/verifyingS3';

const DEMO_S3_PORT = Number(process.env.DEMO_S3_PORT ?? 4569);
const DEMO_TOKEN = 'demo-token-for-local-use-only';

async function main() {
  const s3 = await startVerifyingS3(['demo-bucket'], {
    port: DEMO_S3_PORT,
    seed: {
      'demo-bucket/hello.txt': 'Hello from S3, signed with SigV4 and verified.\n',
      'demo-bucket/docs/readme.md': '# A nested object\n',
    },
  });

  const backend = createBackend();
  backend.add(import('../src'));
  await backend.start();

  const base = 'http://localhost:7007/api/proxy-sigv4/demo';
  const auth = `-H 'Authorization: Bearer ${DEMO_TOKEN}'`;
  process.stdout.write(
    [
      '',
      `Local S3 (s3rver behind a SigV4 check) on ${s3.url}, bucket demo-bucket.`,
      'Try:',
      `  curl ${auth} ${base}/hello.txt`,
      `  curl ${auth} '${base}?list-type=2'`,
      `  curl ${auth} -X PUT --data-binary @package.json ${base}/uploaded.json`,
      `  curl ${base}/hello.txt        # no token: 401`,
      '',
    ].join('\n'),
  );

  const stop = async () => {
    await backend.stop();
    await s3.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch(error => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});

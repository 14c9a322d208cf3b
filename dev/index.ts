/*
 * The standalone backend that `npm start` runs: a real Backstage backend with this plugin,
 * a local S3 (s3rver, with every SigV4 signature checked by aws4 in front of it) holding
 * a seeded bucket, and a local STS that issues role credentials the S3 accepts, so that
 * the routes work offline with no AWS account.
 */
import { createBackend } from '@backstage/backend-defaults';
import { startVerifyingS3, S3RVER_CREDENTIALS } from '../src/__testUtils__/verifyingS3';
import { startLocalSts } from '../src/__testUtils__/localSts';
import { AcceptedCredentials } from '../src/__testUtils__/verifyingUpstream';

const DEMO_S3_PORT = Number(process.env.DEMO_S3_PORT ?? 4569);
const DEMO_STS_PORT = Number(process.env.DEMO_STS_PORT ?? 4570);
const DEMO_TOKEN = 'demo-token-for-local-use-only';

async function main() {
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
  const s3 = await startVerifyingS3(['demo-bucket'], {
    port: DEMO_S3_PORT,
    accepted,
    seed: {
      'demo-bucket/hello.txt': 'Hello from S3, signed with SigV4 and verified.\n',
      'demo-bucket/docs/readme.md': '# A nested object\n',
    },
  });

  const backend = createBackend();
  backend.add(import('../src'));
  await backend.start();

  const api = 'http://localhost:7007/api/proxy-sigv4';
  const base = `${api}/demo`;
  const auth = `-H 'Authorization: Bearer ${DEMO_TOKEN}'`;
  process.stdout.write(
    [
      '',
      `Local S3 (s3rver behind a SigV4 check) on ${s3.url}, bucket demo-bucket.`,
      `Local STS on ${sts.url}.`,
      'Try:',
      `  curl ${auth} ${base}/hello.txt`,
      `  curl ${auth} ${api}/demo-role/hello.txt     # through an assumed role`,
      `  curl ${auth} ${api}/_routes                 # the route check`,
      `  curl ${auth} '${base}?list-type=2'`,
      `  curl ${auth} -X PUT --data-binary @package.json ${base}/uploaded.json`,
      `  curl ${base}/hello.txt        # no token: 401`,
      '',
    ].join('\n'),
  );

  const stop = async () => {
    await backend.stop();
    await s3.close();
    await sts.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch(error => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});

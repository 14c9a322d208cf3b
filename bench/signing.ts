/*
 * Signing alone: the plugin's RouteSigner on a typical GET, with credentials from the
 * plugin's cache (fetched once) and the signer's signing-key cache warm. Microseconds per
 * request.
 */
import { CredentialsCache } from '../src/credentials/cachedCredentials';
import { RouteSigner } from '../src/signing/signRequest';

export function measureSigning(iterations: number): Promise<number> {
  return run(iterations);
}

async function run(iterations: number): Promise<number> {
  const cache = new CredentialsCache(
    async () => ({
      accessKeyId: 'ASIABENCHMARK',
      secretAccessKey: 'bench-secret-access-key',
      sessionToken: 'bench-session-token',
      expiration: new Date(Date.now() + 3600_000),
    }),
    { label: 'bench' },
  );
  const signer = new RouteSigner({ service: 'execute-api', region: 'eu-west-1', s3: false }, cache.get);
  const sign = () =>
    signer.sign({
      method: 'GET',
      protocol: 'https:',
      hostname: 'abc123.execute-api.eu-west-1.amazonaws.com',
      path: '/prod/items/42',
      query: { limit: '10', next: 'abc' },
      headers: {
        host: 'abc123.execute-api.eu-west-1.amazonaws.com',
        accept: 'application/json',
        'accept-encoding': 'gzip',
      },
    });
  for (let i = 0; i < Math.min(iterations, 5000); i++) await sign(); // warm up
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await sign();
  const elapsed = Number(process.hrtime.bigint() - started) / 1000;
  cache.close();
  return elapsed / iterations;
}

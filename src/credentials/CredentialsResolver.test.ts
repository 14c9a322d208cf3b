import { AwsCredentialsManager } from '@backstage/integration-aws-node';
import { CredentialsResolver, describeAwsError } from './CredentialsResolver';

function countingManager(fail?: Error) {
  const calls = { manager: [] as unknown[], provider: 0 };
  const manager: AwsCredentialsManager = {
    async getCredentialProvider(opts) {
      calls.manager.push(opts);
      return {
        sdkCredentialProvider: async () => {
          calls.provider++;
          if (fail) throw fail;
          return {
            accessKeyId: `AKID-${JSON.stringify(opts)}`,
            secretAccessKey: 'the-secret',
            sessionToken: 'the-token',
            expiration: new Date(Date.now() + 3600_000),
          };
        },
      };
    },
  };
  return { manager, calls };
}

describe('CredentialsResolver', () => {
  it('asks for the main account or the route account, once per source, however many requests', async () => {
    const { manager, calls } = countingManager();
    const resolver = new CredentialsResolver(manager);
    const main = resolver.forSource({ kind: 'main' });
    const account = resolver.forSource({ kind: 'account', accountId: '123456789012' });
    expect(resolver.forSource({ kind: 'main' })).toBe(main);

    const results = await Promise.all([
      ...Array.from({ length: 50 }, () => main()),
      ...Array.from({ length: 50 }, () => account()),
    ]);
    expect(results[0].accessKeyId).toBe('AKID-{}');
    expect(results[99].accessKeyId).toBe('AKID-{"accountId":"123456789012"}');
    for (let i = 0; i < 20; i++) await main();
    expect(calls.manager).toEqual([{}, { accountId: '123456789012' }]);
    expect(calls.provider).toBe(2);
  });

  it('turns a provider failure into a 503 that says why, and tries again on the next call', async () => {
    const failure = Object.assign(new Error('The security token included in the request is invalid'), {
      name: 'InvalidClientTokenId',
    });
    const { manager, calls } = countingManager(failure);
    const get = new CredentialsResolver(manager).forSource({ kind: 'account', accountId: '123456789012' });
    await expect(get()).rejects.toMatchObject({
      name: 'ServiceUnavailableError',
      message:
        'Could not get AWS credentials for account 123456789012: InvalidClientTokenId: The security token included in the request is invalid',
    });
    await expect(get()).rejects.toThrow();
    expect(calls.provider).toBe(2);
  });

  it('describes AWS errors by code and message only', () => {
    const error = Object.assign(new Error('denied'), {
      Code: 'AccessDenied',
      $response: { headers: { authorization: 'AWS4-HMAC-SHA256 secret' } },
    });
    expect(describeAwsError(error)).toBe('AccessDenied: denied');
  });
});

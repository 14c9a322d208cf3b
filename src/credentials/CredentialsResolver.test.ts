import { AwsCredentialsManager } from '@backstage/integration-aws-node';
import {
  credentialSourceKey,
  CredentialsResolver,
  describeAwsError,
  describeCredentialSource,
} from './CredentialsResolver';
import { CredentialSourceConfig } from '../config/types';

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
    const main = resolver.forSource({ kind: 'main' }).get;
    const account = resolver.forSource({ kind: 'account', accountId: '123456789012' }).get;
    expect(resolver.forSource({ kind: 'main' }).get).toBe(main);

    const results = await Promise.all([
      ...Array.from({ length: 50 }, () => main()),
      ...Array.from({ length: 50 }, () => account()),
    ]);
    expect(results[0].accessKeyId).toBe('AKID-{}');
    expect(results[99].accessKeyId).toBe('AKID-{"accountId":"123456789012"}');
    for (let i = 0; i < 20; i++) await main();
    expect(calls.manager).toEqual([{}, { accountId: '123456789012' }]);
    expect(calls.provider).toBe(2);
    resolver.close();
  });

  it('turns a provider failure into a 503 that says why, and tries again on the next call', async () => {
    const failure = Object.assign(new Error('The security token included in the request is invalid'), {
      name: 'InvalidClientTokenId',
    });
    const { manager, calls } = countingManager(failure);
    // No backoff: the second call tries again at once.
    const resolver = new CredentialsResolver(manager, { cache: { retryDelayMs: 0 } });
    const get = resolver.forSource({ kind: 'account', accountId: '123456789012' }).get;
    await expect(get()).rejects.toMatchObject({
      name: 'ServiceUnavailableError',
      message:
        'Could not get AWS credentials for account 123456789012: InvalidClientTokenId: The security token included in the request is invalid',
    });
    await expect(get()).rejects.toThrow();
    expect(calls.provider).toBe(2);
    resolver.close();
  });

  it('describes AWS errors by code and message only', () => {
    const error = Object.assign(new Error('denied'), {
      Code: 'AccessDenied',
      $response: { headers: { authorization: 'AWS4-HMAC-SHA256 secret' } },
    });
    expect(describeAwsError(error)).toBe('AccessDenied: denied');
  });

  it('keys role sources by everything that makes their credentials differ, and names them without secrets', () => {
    const role: CredentialSourceConfig = {
      kind: 'role',
      roleArn: 'arn:aws:iam::123456789012:role/r',
      externalId: 'the-external-id',
      roleSessionName: 's',
      durationSeconds: 900,
      sts: { region: 'eu-west-1' },
      source: { kind: 'main' },
    };
    const variants: CredentialSourceConfig[] = [
      role,
      { ...role, roleArn: 'arn:aws:iam::123456789012:role/other' },
      { ...role, externalId: undefined },
      { ...role, roleSessionName: 't' },
      { ...role, durationSeconds: 3600 },
      { ...role, sts: { region: 'us-east-1' } },
      { ...role, sts: { region: 'eu-west-1', endpoint: 'https://vpce.example' } },
      { ...role, source: { kind: 'account', accountId: '123456789012' } },
    ];
    expect(new Set(variants.map(credentialSourceKey)).size).toBe(variants.length);
    expect(credentialSourceKey({ ...role })).toBe(credentialSourceKey(role));
    expect(describeCredentialSource(role)).toBe(
      'role arn:aws:iam::123456789012:role/r (assumed with the main AWS account)',
    );
    const endpoint: CredentialSourceConfig = {
      kind: 'endpoint',
      url: 'https://helper.internal/credentials',
      headers: { 'x-api-key': 'the-api-key' },
      externalId: 'the-external-id',
      region: 'eu-west-1',
      service: 'execute-api',
    };
    expect(describeCredentialSource(endpoint)).toBe(
      'credentials endpoint https://helper.internal',
    );
    expect(credentialSourceKey({ ...endpoint, headers: { 'x-api-key': 'other' } })).not.toBe(
      credentialSourceKey(endpoint),
    );
  });
});

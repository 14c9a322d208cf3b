/*
 * The secrets of integration-aws-node's own configuration (an `aws.accounts` ExternalId, not
 * the route's) are redacted from credentials errors too, whatever STS echoes (found by a
 * red-team pass over 0.3.0). The integration's AssumeRole goes to a local STS in echo mode
 * through the AWS SDK's AWS_ENDPOINT_URL_STS.
 */
import { mockServices } from '@backstage/backend-test-utils';
import { LocalSts, startLocalSts } from '../../localAws';
import { startProxy, TEST_CREDENTIALS, SERVICE } from '../__testUtils__/startProxy';

const EXTERNAL_ID = 'integration-ext-id-Secret-4711';

describe('credentials errors of an aws.accounts role (integration-aws-node)', () => {
  let sts: LocalSts;
  const saved = process.env.AWS_ENDPOINT_URL_STS;
  beforeAll(async () => {
    sts = await startLocalSts({
      sources: { [TEST_CREDENTIALS.accessKeyId]: { secretAccessKey: TEST_CREDENTIALS.secretAccessKey, arn: 'arn:aws:iam::111111111111:user/main' } },
      accepted: {},
    });
    sts.mode = 'echo';
    process.env.AWS_ENDPOINT_URL_STS = sts.url;
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_STS;
    else process.env.AWS_ENDPOINT_URL_STS = saved;
    await sts.close();
  });

  it('never shows the account ExternalId in the 503, the route check or the log', async () => {
    const logger = mockServices.logger.mock();
    const proxy = await startProxy(
      {
        '/api': {
          target: 'http://127.0.0.1:9/',
          service: 'execute-api',
          region: 'eu-west-1',
          accountId: '222222222222',
        },
      },
      {
        aws: {
          mainAccount: TEST_CREDENTIALS,
          accounts: [{ accountId: '222222222222', roleName: 'reader', externalId: EXTERNAL_ID }],
        },
      },
      { logger: logger.factory },
    );
    try {
      const res = await proxy.http().get('/api/proxy-sigv4/api/x').set('authorization', SERVICE);
      // The STS stand-in was called by the integration with the external id.
      expect(sts.assumeRoleCalls().map(c => c.params.ExternalId)).toContain(EXTERNAL_ID);
      expect(res.status).toBe(503);
      expect(res.body.error.message).toContain("Value '[redacted]' at 'ExternalId'");
      expect(res.text).not.toContain(EXTERNAL_ID);
      const check = await proxy.http().get('/api/proxy-sigv4/_routes').set('authorization', SERVICE);
      expect(check.text).not.toContain(EXTERNAL_ID);
      const logged = [...logger.warn.mock.calls, ...logger.error.mock.calls, ...logger.info.mock.calls, ...logger.debug.mock.calls]
        .map(c => JSON.stringify(c))
        .join('\n');
      expect(logged).toContain('[redacted]');
      expect(logged).not.toContain(EXTERNAL_ID);
    } finally {
      await proxy.stop();
    }
  });
});

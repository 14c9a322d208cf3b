import { startVerifyingUpstream } from '../../localAws';
import { startProxy, TEST_CREDENTIALS, USER } from '../__testUtils__/startProxy';

it('serves a route /_Routes as a route: the route check path is case-sensitive', async () => {
  const upstream = await startVerifyingUpstream({ [TEST_CREDENTIALS.accessKeyId]: { secretAccessKey: TEST_CREDENTIALS.secretAccessKey } });
  const proxy = await startProxy({ '/_Routes': { target: upstream.url, service: 'execute-api', region: 'eu-west-1' } });
  try {
    const res = await proxy.http().get('/api/proxy-sigv4/_Routes').set('authorization', USER);
    expect(res.status).toBe(200);
    expect(upstream.received).toHaveLength(1);
  } finally {
    await proxy.stop();
    await upstream.close();
  }
});

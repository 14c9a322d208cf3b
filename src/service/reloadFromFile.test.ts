/*
 * Reload from a real app-config file: the backend's root config is read and watched by
 * Backstage's own config loader (FileConfigSource, as a real backend's rootConfig does), and
 * the test edits the file on disk; the change reaches the plugin through config.subscribe.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { coreServices, createServiceFactory } from '@backstage/backend-plugin-api';
import { mockCredentials, mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { ConfigSources, FileConfigSource } from '@backstage/config-loader';
import request from 'supertest';
import { startVerifyingUpstream, VerifyingUpstream } from '../../localAws';
import { proxySigV4Plugin } from '../plugin';
import { TEST_CREDENTIALS, USER } from '../__testUtils__/startProxy';
import { capturingLogger } from '../__testUtils__/capturingLogger';

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

let upstream: VerifyingUpstream;
let dir: string;

beforeEach(async () => {
  upstream = await startVerifyingUpstream({ [TEST_CREDENTIALS.accessKeyId]: TEST_CREDENTIALS });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'proxy-sigv4-reload-'));
});
afterEach(async () => {
  await upstream.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** app-config.yaml with these routes (target paths under the upstream), written as editors do: a new file renamed over the old. */
function writeConfig(file: string, routes: Record<string, string>) {
  const lines = [
    'aws:',
    '  mainAccount:',
    `    accessKeyId: ${TEST_CREDENTIALS.accessKeyId}`,
    `    secretAccessKey: ${JSON.stringify(TEST_CREDENTIALS.secretAccessKey)}`,
    'proxysigv4:',
    '  checkCredentialsOnStart: false',
    ...Object.entries(routes).flatMap(([key, targetPath]) => [
      `  '${key}':`,
      `    target: ${upstream.url}${targetPath}`,
      '    service: execute-api',
      '    region: eu-west-1',
    ]),
  ];
  fs.writeFileSync(`${file}.tmp`, `${lines.join('\n')}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

it('follows an edit of the app-config file on disk, without a restart', async () => {
  const file = path.join(dir, 'app-config.yaml');
  writeConfig(file, { '/files': '/v1' });
  const config = await ConfigSources.toConfig(FileConfigSource.create({ path: file, watch: true }));
  const logs = capturingLogger();
  const backend = await startTestBackend({
    features: [
      proxySigV4Plugin,
      createServiceFactory({ service: coreServices.rootConfig, deps: {}, factory: () => config }),
      logs.factory,
      mockServices.httpAuth.factory({ defaultCredentials: mockCredentials.none() }),
    ],
  });
  try {
    const get = (p: string) => request(backend.server).get(`/api/proxy-sigv4${p}`).set('authorization', USER);
    expect((await get('/files/a')).status).toBe(200);
    expect(upstream.received.at(-1)?.url).toBe('/v1/a');

    writeConfig(file, { '/files': '/v2', '/more': '/m' });
    let line;
    for (let i = 0; i < 150 && !line; i++) {
      line = logs.entries.find(e => e.message.startsWith('proxysigv4: routes reloaded'));
      if (!line) await sleep(100);
    }
    expect(line?.message).toBe('proxysigv4: routes reloaded: added /more; changed /files');
    expect((await get('/files/a')).status).toBe(200);
    expect(upstream.received.at(-1)?.url).toBe('/v2/a');
    expect((await get('/more/b')).status).toBe(200);
    expect(upstream.received.at(-1)).toMatchObject({ url: '/m/b', signatureError: undefined });
  } finally {
    await backend.stop();
    config.close();
  }
}, 30_000);

/*
 * An upstream that sends its answer's head and then stalls the body for ever (found by a
 * red-team pass over 0.3.0): the route's timeout also bounds a gap in the body, so the caller
 * and the upstream connection are not held for ever. A caller that reads slowly is not the
 * upstream's stall, and is never cut off for it.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { startProxy, SERVICE } from '../__testUtils__/startProxy';

jest.setTimeout(30_000);

it('cuts off an answer whose body stalls longer than the route timeout', async () => {
  const sockets = new Set<import('node:net').Socket>();
  const upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '1000' });
    res.write(Buffer.alloc(10, 0x61)); // then nothing, ever
  });
  upstream.on('connection', s => {
    sockets.add(s);
  });
  await new Promise<void>(r => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  const proxy = await startProxy({
    '/api': { target: `http://127.0.0.1:${port}/`, service: 'execute-api', region: 'eu-west-1', timeout: 1000 },
  });
  try {
    const outcome = await new Promise<string>(resolve => {
      const req = http.get(`${proxy.baseUrl}/api/proxy-sigv4/api/x`, { headers: { authorization: SERVICE } }, res => {
        res.on('data', () => {});
        res.on('end', () => resolve('ended'));
        res.on('error', () => resolve('cut off'));
        res.on('aborted', () => resolve('cut off'));
      });
      req.on('error', () => resolve('cut off'));
      // 15x the route timeout.
      setTimeout(() => {
        resolve('still hanging');
        req.destroy();
      }, 15_000);
    });
    expect(outcome).toBe('cut off');
  } finally {
    for (const s of sockets) s.destroy();
    await proxy.stop();
    await new Promise(r => upstream.close(r));
  }
});

it('never cuts off a caller that reads slowly while the upstream waits on it', async () => {
  const size = 16 * 1024 * 1024;
  const upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
    res.end(Buffer.alloc(size, 0x62));
  });
  await new Promise<void>(r => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  const proxy = await startProxy({
    '/api': { target: `http://127.0.0.1:${port}/`, service: 'execute-api', region: 'eu-west-1', timeout: 1000 },
  });
  try {
    const received = await new Promise<number>((resolve, reject) => {
      const req = http.get(`${proxy.baseUrl}/api/proxy-sigv4/api/big`, { headers: { authorization: SERVICE } }, res => {
        let n = 0;
        res.pause(); // reads nothing for 3 route timeouts: the proxy's buffers fill
        setTimeout(() => {
          res.on('data', (c: Buffer) => {
            n += c.length;
          });
          res.resume();
        }, 3000);
        res.on('end', () => resolve(n));
        res.on('error', reject);
      });
      req.on('error', reject);
    });
    expect(received).toBe(size);
  } finally {
    await proxy.stop();
    await new Promise(r => upstream.close(r));
  }
});

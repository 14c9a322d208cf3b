/*
 * Port probes: a free loopback port to listen on, and whether a given port can be listened
 * on. The demo checks its ports before starting; the benchmark and the e2e scripts pick
 * free ones for the processes they start.
 */
import net from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago (the probe is closed before resolving). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Whether `port` can be listened on: undefined if so (the probe is closed at once), else
 * the error listening gave (EADDRINUSE when something holds it).
 */
export function listenError(port: number, host?: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise(resolve => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error));
    server.listen(port, host, () => server.close(() => resolve(undefined)));
  });
}

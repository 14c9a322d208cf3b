/*
 * The runtime's floor, run as its own process: a bare Node.js proxy (no Backstage, no
 * signing, no header filtering) that pipes each request to the upstream over keep-alive
 * connections and pipes the answer back. What it costs, any Node.js proxy costs.
 *
 *   node bench/nodeProxy.ts <upstream http port> <upstream https port>
 *   /http/… → http://127.0.0.1:<http>/api/…    /https/… → https://localhost:<https>/api/…
 *   /stream/…, /signed/… → http://127.0.0.1:<http>/bucket/…
 */
import http from 'node:http';
import https from 'node:https';
import { AddressInfo } from 'node:net';
import { answerMemoryQuestions } from './memoryProbe';

async function main() {
  process.once('disconnect', () => process.exit(0)); // the orchestrator has gone
  const [httpPort, httpsPort] = process.argv.slice(2).map(Number);
  const agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true }),
  };
  const server = http.createServer((req, res) => {
    const m = /^\/(http|https|stream|signed)(\/.*)?$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const secure = m[1] === 'https';
    const { host, connection, ...headers } = req.headers;
    const upstream = (secure ? https : http).request(
      {
        hostname: secure ? 'localhost' : '127.0.0.1',
        port: secure ? httpsPort : httpPort,
        method: req.method,
        path: `${m[1] === 'http' || secure ? '/api' : '/bucket'}${m[2] ?? ''}`,
        headers,
        agent: secure ? agents.https : agents.http,
      },
      upRes => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy(); // the client went away
    });
    req.pipe(upstream);
  });
  answerMemoryQuestions();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  process.stdout.write(
    `${JSON.stringify({ ready: true, port: (server.address() as AddressInfo).port })}\n`,
  );
}

main().catch(error => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});

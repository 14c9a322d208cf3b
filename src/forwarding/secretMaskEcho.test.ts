/*
 * S3's SignatureDoesNotMatch carries the canonical request twice: as text and as
 * <CanonicalRequestBytes>, each byte two lower-case hex digits, space separated. The session
 * token must be masked in both (found by a red-team pass over 0.3.0).
 */
import http from 'node:http';
import net, { AddressInfo } from 'node:net';
import crypto from 'node:crypto';
import { createAgent, forward } from './forward';

const TOKEN = `IQoJb3JpZ2luX2VjE${crypto.randomBytes(120).toString('base64')}ab+cd/ef==`;

function listen(server: http.Server | net.Server): Promise<number> {
  return new Promise(r =>
    server.listen(0, '127.0.0.1', () => r((server.address() as AddressInfo).port)),
  );
}

describe('session token in S3 SignatureDoesNotMatch <CanonicalRequestBytes>', () => {
  it('is masked in the hex form S3 writes (lower-case, space-separated bytes)', async () => {
    // S3's SignatureDoesNotMatch carries the canonical request twice: as text and as
    // <CanonicalRequestBytes>, each byte as two lower-case hex digits, space separated.
    const canonical = `GET\n/x\n\nhost:127.0.0.1\nx-amz-security-token:${TOKEN}\n\nhost;x-amz-security-token\nUNSIGNED-PAYLOAD`;
    const hex = (s: string) => [...Buffer.from(s, 'latin1')].map(b => b.toString(16).padStart(2, '0')).join(' ');
    const xml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><CanonicalRequest>${canonical}</CanonicalRequest><CanonicalRequestBytes>${hex(canonical)}</CanonicalRequestBytes></Error>`;
    const upstream = net.createServer(socket => {
      socket.on('error', () => {});
      socket.once('data', () =>
        socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: ${Buffer.byteLength(xml)}\r\n\r\n${xml}`),
      );
    });
    const upstreamPort = await listen(upstream);
    const agent = createAgent('http:');
    const front = http.createServer((_req, res) => {
      forward(
        { protocol: 'http:', hostname: '127.0.0.1', port: upstreamPort, agent, timeout: 5000, allowedResponseHeaders: new Set() },
        { method: 'GET', path: '/x', headers: { host: `127.0.0.1:${upstreamPort}`, 'x-amz-security-token': TOKEN } },
        res,
      ).catch(() => res.destroy());
    });
    const frontPort = await listen(front);
    try {
      const body = await (await fetch(`http://127.0.0.1:${frontPort}/`)).text();
      expect(body).toContain('<CanonicalRequestBytes>'); // the echo arrived
      expect(body).not.toContain(TOKEN);
      expect(body).not.toContain(hex(TOKEN));
      expect(body.toLowerCase()).not.toContain(hex(TOKEN).replace(/ /g, ''));
      expect(body.length).toBe(xml.length); // masked, not cut
    } finally {
      agent.destroy();
      await new Promise(r => front.close(r));
      await new Promise(r => upstream.close(r));
    }
  });
});


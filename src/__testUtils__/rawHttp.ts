/*
 * Sends a request exactly as written (request line, headers, body) over a socket and
 * parses the response, so that tests can send what HTTP clients refuse to: absolute-form
 * targets, raw dot segments, backslashes, foreign Host headers.
 */
import net from 'node:net';
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function rawHttp(
  port: number,
  requestLine: string,
  headers: Record<string, string> = {},
  body = '',
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const lines = [requestLine];
    const all: Record<string, string> = {
      host: `127.0.0.1:${port}`,
      connection: 'close',
      ...headers,
    };
    if (body && !('content-length' in all) && !('transfer-encoding' in all)) {
      all['content-length'] = String(Buffer.byteLength(body));
    }
    for (const [k, v] of Object.entries(all)) lines.push(`${k}: ${v}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
    const chunks: Buffer[] = [];
    socket.on('data', c => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const [head, ...rest] = text.split('\r\n\r\n');
      const [statusLine, ...headerLines] = head.split('\r\n');
      const parsed: http.IncomingHttpHeaders = {};
      for (const line of headerLines) {
        const i = line.indexOf(':');
        parsed[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers: parsed,
        body: rest.join('\r\n\r\n'),
      });
    });
  });
}

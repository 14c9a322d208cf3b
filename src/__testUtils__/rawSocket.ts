/*
 * A client that writes bytes exactly as given (a string is written as latin1, one byte
 * per character, so that tests can put any byte on the wire: NUL, bare CR or LF, overlong
 * UTF-8), optionally a piece at a time, and records everything the server sends back and
 * when. Unlike rawHttp it adds no header and parses every response on the connection.
 */
import net from 'node:net';
import http from 'node:http';

export interface ParsedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Bytes of a string, one per character (latin1): what the test wrote is what is sent. */
export function bytes(text: string | Buffer): Buffer {
  return Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
}

/** Reads every complete HTTP/1.1 response in `data` (Content-Length, chunked or to the end). */
export function parseResponses(data: Buffer): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let rest = data;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const [statusLine, ...lines] = rest.subarray(0, end).toString('latin1').split('\r\n');
    const headers: http.IncomingHttpHeaders = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim().toLowerCase();
      const value = line.slice(i + 1).trim();
      const prior = headers[name];
      if (prior === undefined) headers[name] = value;
      else headers[name] = ([] as string[]).concat(prior, value);
    }
    let body: Buffer;
    rest = rest.subarray(end + 4);
    if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      body = rest.subarray(0, length);
      rest = rest.subarray(length);
    } else if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        if (lineEnd === -1) break;
        const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
        rest = rest.subarray(lineEnd + 2);
        if (!(size > 0)) {
          rest = rest.subarray(rest.indexOf('\r\n') + 2);
          break;
        }
        parts.push(rest.subarray(0, size));
        rest = rest.subarray(size + 2);
      }
      body = Buffer.concat(parts);
    } else {
      body = rest;
      rest = Buffer.alloc(0);
    }
    out.push({
      status: Number(statusLine.split(' ')[1]),
      headers,
      body: body.toString('latin1'),
    });
  }
  return out;
}

export interface RawConnection {
  socket: net.Socket;
  /** Writes bytes; resolves false (instead of failing) once the server has closed. */
  write(data: string | Buffer): Promise<boolean>;
  /** Everything the server has sent so far. */
  received(): Buffer;
  /** The responses complete so far. */
  responses(): ParsedResponse[];
  /** Bytes written before the first byte of an answer arrived (undefined: none yet). */
  writtenBeforeAnswer(): number | undefined;
  /** Total bytes written. */
  written(): number;
  /** Resolves when the connection is closed (by either side). */
  closed: Promise<void>;
  /** Waits until `n` responses are complete, or the connection closes. */
  waitForResponses(n: number): Promise<ParsedResponse[]>;
  destroy(): void;
}

export async function connectRaw(port: number): Promise<RawConnection> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const chunks: Buffer[] = [];
  let written = 0;
  let beforeAnswer: number | undefined;
  let gone = false;
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach(l => l());
  socket.on('data', c => {
    if (beforeAnswer === undefined) beforeAnswer = written;
    chunks.push(c);
    notify();
  });
  socket.on('error', () => {
    gone = true;
    notify();
  });
  const closed = new Promise<void>(resolve =>
    socket.once('close', () => {
      gone = true;
      notify();
      resolve();
    }),
  );
  const received = () => Buffer.concat(chunks);
  return {
    socket,
    write: data =>
      new Promise<boolean>(resolve => {
        if (gone || socket.destroyed || !socket.writable) {
          resolve(false);
          return;
        }
        const buffer = bytes(data);
        socket.write(buffer, error => {
          if (!error) written += buffer.length;
          resolve(!error);
        });
      }),
    received,
    responses: () => parseResponses(received()),
    writtenBeforeAnswer: () => beforeAnswer,
    written: () => written,
    closed,
    waitForResponses: n =>
      new Promise(resolve => {
        const check = () => {
          const parsed = parseResponses(received());
          if (parsed.length >= n || gone) {
            listeners.delete(check);
            resolve(parsed);
          }
        };
        listeners.add(check);
        check();
      }),
    destroy: () => socket.destroy(),
  };
}

/**
 * Writes `data` on a new connection and waits for the server to close it (or for `n`
 * complete responses, then closes). Returns the responses and whether the server closed.
 */
export async function sendRaw(
  port: number,
  data: string | Buffer,
  options: { responses?: number } = {},
): Promise<{ responses: ParsedResponse[]; raw: string }> {
  const conn = await connectRaw(port);
  await conn.write(data);
  if (options.responses !== undefined) {
    await conn.waitForResponses(options.responses);
    conn.destroy();
  }
  await conn.closed;
  return { responses: conn.responses(), raw: conn.received().toString('latin1') };
}

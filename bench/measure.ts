/*
 * Measuring one request, and a process's memory while work runs.
 */
import { ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { collectedMemory, Memory, rss } from './processes';

export const MiB = 1024 * 1024;

export function getJson(url: string): Promise<any> {
  return new Promise((resolve, reject) => {
    http
      .get(url, res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
      })
      .on('error', reject);
  });
}

/** POSTs JSON; resolves with the JSON answer, or rejects with a non-2xx answer's status and body. */
export function postJson(url: string, body: unknown, headers: http.OutgoingHttpHeaders): Promise<any> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    http
      .request(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'content-length': data.length } }, res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) reject(new Error(`POST ${url} answered ${status}: ${text.slice(0, 300)}`));
          else resolve(JSON.parse(text));
        });
        res.on('error', reject);
      })
      .on('error', reject)
      .end(data);
  });
}

/** A GET whose answer is a redirect: its status and Location (the body, if any, is read and dropped). */
export function redirectOf(
  url: string,
  headers: http.OutgoingHttpHeaders,
): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, res => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** One request, its body `upload` bytes streamed if given, its answer counted; times in ms. */
export function transfer(
  url: string,
  options: {
    method?: string;
    upload?: number;
    headers?: http.OutgoingHttpHeaders;
    agent?: http.Agent;
    ca?: string;
  },
): Promise<{ status: number; bytes: number; ttfb: number; total: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let ttfb = NaN;
    const transport = url.startsWith('https:') ? https : http;
    const req = transport.request(
      url,
      {
        method: options.method ?? 'GET',
        headers: {
          ...options.headers,
          ...(options.upload !== undefined ? { 'content-length': options.upload } : {}),
        },
        agent: options.agent,
        ca: options.ca,
      },
      res => {
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          if (bytes === 0) ttfb = performance.now() - started;
          bytes += c.length;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, bytes, ttfb, total: performance.now() - started }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.upload === undefined) {
      req.end();
      return;
    }
    const chunk = Buffer.alloc(64 * 1024, 'u');
    let left = options.upload;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n)) && left > 0) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/**
 * Runs `work` while sampling a backend's RSS every 20 ms. `before` is its memory after a full
 * garbage collection; `growth` is the peak RSS over that.
 */
export async function withMemory<T>(
  child: ChildProcess | undefined,
  work: () => Promise<T>,
): Promise<{ result: T; growth: number; before?: Memory }> {
  if (!child?.pid) {
    return { result: await work(), growth: NaN };
  }
  const pid = child.pid;
  const before = await collectedMemory(child);
  let peak = rss(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rss(pid));
  }, 20);
  try {
    const result = await work();
    peak = Math.max(peak, rss(pid));
    return { result, growth: peak - before.rss, before };
  } finally {
    clearInterval(timer);
  }
}

export const median = (xs: number[]) => {
  const s = xs.filter(x => !Number.isNaN(x)).sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};

/*
 * The benchmark's processes: started from TypeScript files, each ready when it prints a
 * `{"ready":true,...}` line; a backend also answers memory questions over IPC.
 */
import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

const ROOT = path.resolve(__dirname, '..');
const children: ChildProcess[] = [];

/** Starts a TypeScript file as a process (with an IPC channel) and waits for its ready line. */
export async function startProcess(
  name: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  nodeOptions: string[] = [],
): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(
    process.execPath,
    [
      ...nodeOptions,
      '--expose-gc',
      '-r',
      require.resolve('@backstage/cli/config/nodeTransform.cjs'),
      ...args,
    ],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  children.push(child);
  const stderr: string[] = [];
  child.stderr!.on('data', d => stderr.push(String(d)));
  const lines = readline.createInterface({ input: child.stdout! });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start in 120 s:\n${stderr.join('')}`)),
      120_000,
    );
    lines.on('line', line => {
      try {
        const value = JSON.parse(line);
        if (value?.ready) {
          clearTimeout(timer);
          resolve(value);
        }
      } catch {
        // a log line
      }
    });
    child.once('exit', code => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${stderr.join('')}`));
    });
  });
  child.removeAllListeners('exit');
  return { child, ready };
}

/** Stops the processes and waits for them (a backend writes its CPU profile as it exits). */
export async function stopAll(): Promise<void> {
  await Promise.all(
    children
      .filter(child => child.exitCode === null && child.signalCode === null)
      .map(
        child =>
          new Promise(resolve => {
            const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
            child.once('exit', () => resolve(clearTimeout(timer)));
            child.kill('SIGTERM');
          }),
      ),
  );
}

/** The resident set size of a process, from /proc (Linux), in bytes. */
export function rss(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb * 1024;
}

/** USER_HZ: 100 on Linux on every common architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time (user and system) a process has used so far, from /proc (Linux), in ms. */
export function cpuTime(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/**
 * Bytes a process has read and written so far, sockets and pipes included (rchar + wchar of
 * /proc/<pid>/io, Linux): what Node passes to read() and write(). Every byte a proxy relays is
 * counted twice, once read and once written.
 */
export function ioBytes(pid: number): number {
  const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? NaN);
  return field('rchar') + field('wchar');
}

/** A backend's memory after a full garbage collection (see bench/backend.ts). */
export interface Memory {
  rss: number;
  heapUsed: number;
  /** The heap V8 has reserved: it grows under allocation pressure (the young generation). */
  heapTotal: number;
  /** Bytes held by ArrayBuffers and Buffers: request and response bodies among them. */
  arrayBuffers: number;
}

/**
 * Sends a process a question over its IPC channel and resolves with the `key` field of the
 * first message that has one (other messages come over the channel too: the TypeScript
 * loader's 'watch' notes). Rejects after 10 s.
 */
export function ask<T>(child: ChildProcess, question: string, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${question}' answer in 10 s`)), 10_000);
    const onMessage = (message: Record<string, unknown>) => {
      if (!message?.[key]) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(message[key] as T);
    };
    child.on('message', onMessage);
    child.send(question);
  });
}

/** Asks a backend to collect garbage, then for its memory. */
export function collectedMemory(child: ChildProcess): Promise<Memory> {
  return ask(child, 'memory', 'memory');
}

/** Asks a backend for its V8 heap and buffers as they are, without collecting garbage. */
export function heapNow(child: ChildProcess): Promise<Omit<Memory, 'rss'>> {
  return ask(child, 'heap', 'heap');
}

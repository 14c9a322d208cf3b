/*
 * Measures what one piece of work costs the process it runs in: the longest event-loop
 * stall while it runs (every other request waits that long), and the growth of memory
 * (JavaScript heap plus buffers, and RSS) over a baseline taken after a full garbage
 * collection. For generous bounds only: the numbers are noisy, but an amplification (a
 * quadratic loop, a buffer per body byte) is orders of magnitude above them.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { monitorEventLoopDelay } from 'node:perf_hooks';

v8.setFlagsFromString('--expose-gc');
const gc: () => void = vm.runInNewContext('gc');

export interface Cost {
  /** The longest the event loop was blocked, ms. */
  stallMs: number;
  /** Peak growth of heapUsed + external (buffers) over the baseline, bytes. */
  heapGrowth: number;
  /** Peak growth of RSS over the baseline, bytes. */
  rssGrowth: number;
  ms: number;
}

const memory = () => {
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.external, rss: m.rss };
};

export async function measureCost<T>(work: () => Promise<T>): Promise<{ cost: Cost; result: T }> {
  gc();
  await new Promise(r => setTimeout(r, 50));
  gc();
  const base = memory();
  let peak = base;
  const sample = () => {
    const now = memory();
    peak = { heap: Math.max(peak.heap, now.heap), rss: Math.max(peak.rss, now.rss) };
  };
  const sampler = setInterval(sample, 5);
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const start = performance.now();
  try {
    const result = await work();
    sample();
    return {
      result,
      cost: {
        stallMs: delay.max / 1e6,
        heapGrowth: peak.heap - base.heap,
        rssGrowth: peak.rss - base.rss,
        ms: performance.now() - start,
      },
    };
  } finally {
    delay.disable();
    clearInterval(sampler);
  }
}

export const MB = 1024 * 1024;

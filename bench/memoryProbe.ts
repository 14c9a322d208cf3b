/**
 * In a benchmark process started with --expose-gc and an IPC channel: asked 'memory', it
 * collects garbage and answers its memory, so that the orchestrator can tell memory that is
 * retained from memory the garbage collector has not yet reclaimed.
 */
export function answerMemoryQuestions() {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  process.on('message', message => {
    if (message !== 'memory') return;
    gc();
    // Buffers are freed by a sweeper after the collection: give it time, then collect again.
    setTimeout(() => {
      gc();
      const { rss, heapUsed, heapTotal, arrayBuffers } = process.memoryUsage();
      process.send?.({ memory: { rss, heapUsed, heapTotal, arrayBuffers } });
    }, 300);
  });
}

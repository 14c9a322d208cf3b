/**
 * In a benchmark process started with --expose-gc and an IPC channel: asked 'memory', it
 * collects garbage and answers its memory, so that the orchestrator can tell memory that is
 * retained from memory the garbage collector has not yet reclaimed. Asked 'heap', it answers
 * its memory as it is, without collecting: what the heap holds under load.
 */
export function answerMemoryQuestions() {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  process.on('message', message => {
    if (message === 'heap') {
      const { heapUsed, heapTotal, arrayBuffers } = process.memoryUsage();
      process.send?.({ heap: { heapUsed, heapTotal, arrayBuffers } });
      return;
    }
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

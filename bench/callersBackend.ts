/*
 * The backend of the `callers` figure: bench/backend.ts (same arguments), which also answers
 * 'heap spaces' over IPC: after a full GC, the bytes used in each V8 heap space. The figure
 * counts the heap without its code spaces: compiled code grows and shrinks with the JIT
 * (1 MB in one quick run's measured pass, despite the warm-up), not with the callers, and
 * would swamp a few KB per caller.
 */
import v8 from 'node:v8';
// Starts the backend: it reads `ours --config <file>` from process.argv as it would there.
import './backend';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
process.on('message', message => {
  if (message !== 'heap spaces') return;
  gc();
  // As bench/memoryProbe.ts: buffers are freed by a sweeper after the collection.
  setTimeout(() => {
    gc();
    const heapSpaces = Object.fromEntries(
      v8.getHeapSpaceStatistics().map(space => [space.space_name, space.space_used_size]),
    );
    process.send?.({ heapSpaces });
  }, 300);
});

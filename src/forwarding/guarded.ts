/*
 * The no-throw discipline of forwarding: no exception escapes an event handler, so that an
 * embedder needs no process-wide handler.
 */

/** Wraps a listener so that any exception it throws is handed over, never thrown on. */
export type Guard = <A extends unknown[]>(
  listener: (...args: A) => void,
) => (...args: A) => void;

/** A {@link Guard} that hands every exception a listener throws to `onThrow`. */
export function guardWith(onThrow: (error: unknown) => void): Guard {
  return <A extends unknown[]>(listener: (...args: A) => void) =>
    (...args: A) => {
      try {
        listener(...args);
      } catch (error) {
        onThrow(error);
      }
    };
}

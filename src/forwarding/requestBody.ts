import http from 'node:http';
import { Readable, pipeline } from 'node:stream';
import { Coalescer } from './coalesce';
import { Guard } from './guarded';

/*
 * Sending a request's body upstream: a buffered body at once, a streamed one once the
 * upstream gives the go-ahead (`100 Continue`), or after a while without one.
 */

/**
 * How long a streamed body waits for the upstream's `100 Continue` before it is sent anyway,
 * for servers that ignore `Expect` (curl waits as long); at most half the route's timeout.
 */
export const CONTINUE_WAIT_MS = 1000;

/** How a {@link RequestBody} is sent. */
export interface RequestBodyOptions {
  /** The route's timeout (ms): a streamed body waits for the go-ahead at most half of it. */
  timeout: number;
  /** False once the attempt is over: a streamed body not yet begun is then never sent. */
  mayStart(): boolean;
  /** A batch of a streamed body's bytes was sent on. */
  sent(bytes: number): void;
}

/** The body of one upstream request (one attempt), and whether a streamed one was sent. */
export class RequestBody {
  private readonly streamed: boolean;
  /** Set once a streamed body has begun to be sent. */
  private bodyStarted = false;
  /** Set when a streamed body was withheld because the upstream answered first. */
  private withheld = false;
  private continueTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly upstream: http.ClientRequest,
    private readonly body: readonly Buffer[] | Readable | undefined,
    private readonly options: RequestBodyOptions,
  ) {
    this.streamed = body instanceof Readable;
  }

  /** True once a streamed body has begun to be sent. */
  get started(): boolean {
    return this.bodyStarted;
  }

  /**
   * The upstream answered: a streamed body not begun yet is never sent (and the caller's
   * unread upload ends with its connection). Returns whether the body was withheld.
   */
  withhold(): boolean {
    if (this.streamed && !this.bodyStarted) {
      this.withheld = true;
      clearTimeout(this.continueTimer);
    }
    return this.withheld;
  }

  /** Stops waiting for the go-ahead (the attempt failed). */
  stopWaiting(): void {
    clearTimeout(this.continueTimer);
  }

  /**
   * Sends a buffered body, or starts waiting for the go-ahead to send a streamed one.
   * `guarded` wraps the listeners that may throw (see forwarding/guarded).
   */
  send(guarded: Guard): void {
    const { upstream, body, options } = this;
    if (body instanceof Readable) {
      const sendBody = guarded(() => {
        clearTimeout(this.continueTimer);
        if (this.bodyStarted || this.withheld || !options.mayStart()) return;
        this.bodyStarted = true;
        // Tiny pieces leave in batches, not as a write (and an HTTP chunk) each.
        const batches = new Coalescer();
        batches.on('data', (chunk: Buffer) => options.sent(chunk.length));
        body.once('error', () => upstream.destroy());
        pipeline(body, batches, upstream, () => {});
      });
      upstream.once('continue', sendBody);
      this.continueTimer = setTimeout(sendBody, Math.min(CONTINUE_WAIT_MS, options.timeout / 2));
      upstream.once('close', () => clearTimeout(this.continueTimer));
    } else {
      // The request has no socket yet: the blocks are queued and leave together once it has.
      for (const block of body ?? []) {
        upstream.write(block);
      }
      upstream.end();
    }
  }
}

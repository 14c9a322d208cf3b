import http from 'node:http';
import https from 'node:https';

/*
 * The two connections of a forwarded request: the route's pooled connections to the
 * upstream, and the caller's connection, which may be gone before the answer is.
 */

/** Creates the keep-alive agent of one route: sequential requests share one connection. */
export function createAgent(protocol: 'http:' | 'https:'): http.Agent {
  const options: http.AgentOptions = {
    keepAlive: true,
    scheduling: 'lifo',
    // Idle pooled sockets are closed after 4 s, under the 5 s keep-alive timeout of
    // common servers, so that a request is rarely written onto a socket being closed.
    timeout: 4000,
  };
  return protocol === 'https:'
    ? new https.Agent(options)
    : new http.Agent(options);
}

/**
 * True when the caller's connection is gone. (Not `req.destroyed`: a request whose body
 * has been read is destroyed too, with its connection still open for the answer.) A
 * pipelined request's response has no socket until the answers before it are sent; its
 * connection is its request's socket.
 */
export function clientGone(res: http.ServerResponse): boolean {
  const socket = res.socket ?? res.req?.socket;
  return res.destroyed || !socket || socket.destroyed;
}

/**
 * Calls `listener` once, when the exchange with the caller is over: the response closed
 * (after its end, or cut off), or its connection gone. A pipelined response waiting behind
 * others never emits 'close' when the connection dies, hence the connection's own event.
 * Calls it at once if that has already happened. Returns a function that stops listening.
 */
export function whenClientDone(
  res: http.ServerResponse,
  listener: () => void,
): () => void {
  const socket = res.socket ?? res.req?.socket;
  // Only a response still waiting for its socket needs the connection watched.
  const connection = res.socket ? undefined : socket;
  let done = false;
  const stop = () => {
    res.off('close', fire);
    connection?.off('close', fire);
  };
  function fire() {
    if (done) return;
    done = true;
    stop();
    listener();
  }
  if (res.closed || !socket || socket.destroyed) {
    queueMicrotask(fire);
    return () => {
      done = true;
    };
  }
  res.once('close', fire);
  connection?.once('close', fire);
  return () => {
    done = true;
    stop();
  };
}

import http, { OutgoingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream';
import {
  addSandboxPolicy,
  filterResponseHeaders,
  ResponsePolicy,
  varyByRequestKind,
} from './responseHeaders';
import { BadGatewayError, GatewayTimeoutError } from './errors';
import { Coalescer } from './coalesce';
import { SecretMask } from './secretMask';

/*
 * Handing an upstream's answer to the caller: its status, the headers the caller may see,
 * its body. The one step of forwarding that writes to the caller's response.
 */

/** How an answer is passed on. */
export interface RelayOptions {
  /** Lower-case names added to the default response allowlist. */
  allowedResponseHeaders: ReadonlySet<string>;
  /** See {@link ResponsePolicy}. */
  responsePolicy?: ResponsePolicy;
  /** Masks the session token that signed the request, wherever the answer echoes it. */
  mask?: SecretMask;
  /** Ends the caller's connection with this answer (its upload was left unread). */
  closeConnection?: boolean;
}

/**
 * Why an upstream answer cannot be passed on as an HTTP answer, or undefined. Only a final
 * status (200-599) can be: Node's server refuses anything under 100 by throwing, would send
 * a 1xx (a `101 Switching Protocols` nobody asked for) as an interim answer that leaves the
 * caller waiting, and a status from 600 up is no HTTP status at all.
 */
export function malformedStatus(status: number | undefined): string | undefined {
  if (status === undefined || !Number.isInteger(status) || status < 200 || status > 599) {
    return `status ${status}`;
  }
  return undefined;
}

/** The first header Node's server would refuse to send, as a reason, or undefined. */
function malformedHeader(headers: OutgoingHttpHeaders): string | undefined {
  for (const [name, value] of Object.entries(headers)) {
    try {
      http.validateHeaderName(name);
      for (const v of [value].flat()) http.validateHeaderValue(name, String(v));
    } catch {
      // The name is not shown: it came from the upstream, like the value.
      return 'a header that cannot be sent on';
    }
  }
  return undefined;
}

/**
 * Writes the answer's status and headers to `res`: the allowlisted ones, with the sandbox
 * policy (see {@link addSandboxPolicy}) and the session token masked. Throws a
 * {@link BadGatewayError}, having written nothing, for an answer that cannot be passed on.
 */
export function writeAnswerHead(
  upRes: http.IncomingMessage,
  res: http.ServerResponse,
  options: RelayOptions,
): void {
  const headers = filterResponseHeaders(upRes.headers, options.allowedResponseHeaders);
  addSandboxPolicy(headers, res.getHeader('content-security-policy'), options.responsePolicy);
  varyByRequestKind(headers, res.getHeader('vary'));
  options.mask?.maskHeaders(headers);
  if (options.closeConnection) {
    headers.connection = 'close';
  }
  const malformed = malformedStatus(upRes.statusCode) ?? malformedHeader(headers);
  if (malformed) {
    throw new BadGatewayError(`The upstream's answer could not be passed on (${malformed})`);
  }
  try {
    res.writeHead(upRes.statusCode!, headers);
  } catch (error) {
    // Checked above; should Node refuse anything else, leave none of the answer's headers
    // on the response, which is about to carry the 502 instead.
    if (!res.headersSent) {
      for (const name of Object.keys(headers)) res.removeHeader(name);
    }
    throw new BadGatewayError(`The upstream's answer could not be passed on (${(error as Error).name})`);
  }
}

/** Where the body of an answer comes from. */
export interface AnswerBody {
  /** Bytes of the body already read (the start of an error document). */
  head?: Buffer;
  /** The head is the whole body: `upRes` has ended. */
  complete?: boolean;
  /** Counts the body's bytes as they are passed on. */
  transferred?: { responseBytes: number };
  /**
   * The longest the upstream may send nothing while the caller is ready for more (the route's
   * `timeout`); then the answer is cut off. None: no limit.
   */
  idleMs?: number;
}

/**
 * Streams the answer's body into `res`, after {@link writeAnswerHead}: in batches rather than
 * in the pieces it arrived in (see {@link Coalescer}), with the session token masked (the
 * mask keeps every length). Calls `done` once, with an error when either side failed.
 */
export function relayBody(
  upRes: http.IncomingMessage,
  res: http.ServerResponse,
  body: AnswerBody,
  mask: SecretMask | undefined,
  done: (error?: Error | null) => void,
): void {
  const { head, transferred } = body;
  if (body.complete) {
    const bytes = head && mask ? mask.maskAll(head) : head;
    if (transferred) transferred.responseBytes += bytes?.length ?? 0;
    res.end(bytes);
    done();
    return;
  }
  const out = new Coalescer(mask);
  // Before the rest of the body: it flows once the pipeline runs.
  if (head?.length) out.write(head);
  let idle: NodeJS.Timeout | undefined;
  const arm = () => {
    if (body.idleMs === undefined) return;
    clearTimeout(idle);
    idle = setTimeout(() => {
      if (res.writableNeedDrain) {
        arm(); // the caller reads slowly: the upstream is held back, not stalled
        return;
      }
      // A stalled body holds the caller and an upstream connection: cut both off (the
      // pipeline's error destroys the caller's connection, so the body never looks complete).
      upRes.destroy(
        new GatewayTimeoutError(`The upstream sent nothing for ${body.idleMs} ms mid-answer`),
      );
    }, body.idleMs);
  };
  pipeline(upRes, out, res, error => {
    clearTimeout(idle);
    done(error);
  });
  upRes.on('data', arm);
  arm();
  if (transferred) {
    out.on('data', (chunk: Buffer) => {
      transferred.responseBytes += chunk.length;
    });
  }
}

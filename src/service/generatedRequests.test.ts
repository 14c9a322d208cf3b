/*
 * Generated requests (issue 13, "beyond the sample"): fast-check writes request shapes the
 * hand-written corpus (hostile.test.ts) never tried — paths in every encoding, queries with
 * repeated and AWS-reserved keys, header sets with hop-by-hop and Connection-named headers,
 * bodies chunked down to single bytes — and sends each byte for byte to a real backend with
 * routes of every kind (plain, S3 buffered and streamed, assumed role, credentials
 * endpoint). Whatever the shape, one of two things must happen:
 * - the proxy refuses it with a clear 4xx (its JSON error, or Node's parser's bare status)
 *   and nothing reaches any upstream; or
 * - exactly one request reaches the route's own upstream, under the route's base path.
 * Never another host, never a 5xx, never a hang. Each property below checks one family of
 * rules on its own generated cases, so that each broken rule is reported by its own test
 * with its own shrunk request; a failure prints the seed to replay it (see fcSettings).
 */
/* eslint-disable jest/expect-expect -- fc.assert asserts every property */
import fc from 'fast-check';
import { RequestShape, requestBytes, requestShape } from '../__testUtils__/arbitraries';
import { fcParameters } from '../__testUtils__/fcSettings';
import {
  exchange,
  Exchange,
  GeneratedRig,
  logText,
  MOUNT,
  RouteKey,
  ROUTE_KEYS,
  ROUTES,
  startGeneratedRig,
  USER,
} from '../__testUtils__/generatedRig';
import {
  answerText,
  headerProblems,
  outsideBaseProblems,
  refusalProblems,
  secretProblems,
  Sent,
  signatureProblems,
} from '../__testUtils__/invariants';
import { ReceivedRequest } from '../../localAws';

// The long run (e2e/generatedAttacks.ts) runs thousands of cases per property.
jest.setTimeout(process.env.FC_RUNS ? 3_600_000 : 120_000);

let rig: GeneratedRig;

beforeAll(async () => {
  rig = await startGeneratedRig();
});

afterAll(async () => {
  await rig?.stop();
});

interface Case {
  bytes: Buffer;
  ex: Exchange;
  /** The one request that reached the route's upstream, if one did. */
  received?: ReceivedRequest;
  sent: Sent;
  /** Problems of the outcome itself: where it went, what answered, whether it answered. */
  outcome: string[];
}

/** Sends one generated request and records what happened, with the outcome's problems. */
async function send(shape: RequestShape<RouteKey>): Promise<Case> {
  rig.reset();
  const bytes = requestBytes(shape, {
    self: rig.self,
    evil: rig.evil.hostPort,
    prefix: `${MOUNT}${shape.route}`,
    authorization: USER,
  });
  const ex = await exchange(rig.port, bytes);
  const outcome: string[] = [];
  if (ex.hung) outcome.push('no complete answer within 15 s');
  if (!rig.evil.untouched()) outcome.push(`a host no route names was reached: ${rig.evil.started.map(s => s.url)}`);
  if (rig.other.started.length) outcome.push(`another route's upstream was reached: ${rig.other.started.map(s => s.url)}`);
  const r = ex.response;
  if (r && r.status >= 500) outcome.push(`answered ${r.status}: ${r.body.slice(0, 300)}`);
  let received: ReceivedRequest | undefined;
  if (rig.main.started.length === 0) {
    outcome.push(...refusalProblems(ex, shape.method));
  } else {
    if (rig.main.started.length !== 1 || rig.main.received.length !== 1) {
      outcome.push(`${rig.main.started.length} requests started upstream (${rig.main.received.length} complete), not 1`);
    }
    received = rig.main.received[0];
    if (received) outcome.push(...outsideBaseProblems(received.url, ROUTES[shape.route].base));
  }
  const sent = { headers: shape.headers, body: shape.body?.bytes, method: shape.method };
  return { bytes, ex, received, sent, outcome };
}

/** Throws every problem, with the request as written. */
function report(c: Case, problems: string[]) {
  if (problems.length) {
    throw new Error(`${problems.join('\n')}\nrequest:\n${c.bytes.toString('latin1').slice(0, 2000)}`);
  }
}

const shapes = requestShape(ROUTE_KEYS);

it('stays inside its route: refused with a clear 4xx, or one request to its own host under its base path; never a 5xx or a hang', async () => {
  await fc.assert(
    fc.asyncProperty(shapes, async shape => {
      const c = await send(shape);
      report(c, c.outcome);
    }),
    fcParameters(150),
  );
});

it('what reaches the upstream is signed as aws4 verifies, every x-amz-* header signed, the body as sent', async () => {
  await fc.assert(
    fc.asyncProperty(shapes, async shape => {
      const c = await send(shape);
      const r = c.ex.response;
      const problems = c.received ? signatureProblems(c.received, ROUTES[shape.route].temporary, c.sent) : [];
      if (c.received && r && r.status !== 200) {
        problems.push(`the echo upstream's answer came back as ${r.status}: ${r.body.slice(0, 300)}`);
      }
      report(c, problems);
    }),
    fcParameters(150),
  );
});

it('no hop-by-hop, identifying, Connection-named or caller-credential header reaches the upstream', async () => {
  await fc.assert(
    fc.asyncProperty(shapes, async shape => {
      const c = await send(shape);
      report(c, c.received ? headerProblems(c.received, rig.main.hostPort, c.sent) : []);
    }),
    fcParameters(100),
  );
});

it('no secret of any route (secret key, session token, external id, endpoint key) is in an answer or a log line', async () => {
  await fc.assert(
    fc.asyncProperty(shapes, async shape => {
      const c = await send(shape);
      const secrets = rig.secrets();
      const problems = c.ex.response ? secretProblems('the answer', answerText(c.ex.response), secrets) : [];
      for (const entry of rig.logs.entries) {
        problems.push(...secretProblems(`the ${entry.level} log line "${entry.message.slice(0, 80)}"`, logText(entry), secrets));
      }
      report(c, problems);
    }),
    fcParameters(100),
  );
});

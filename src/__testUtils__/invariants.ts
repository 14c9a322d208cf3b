/*
 * The invariants the generated tests check on every case, each returning what is wrong
 * (empty when nothing is), so that a failing property prints every broken rule of its
 * shrunk counterexample at once rather than the first assertion that threw.
 */
import { ParsedResponse } from './rawSocket';
import { ReceivedRequest } from '../../localAws';
import { couldRenderAsActiveContent, hasSandboxPolicy } from './browserMime';
import { Exchange } from './generatedRig';

/**
 * Problems unless the answer is a clear refusal: the plugin's 4xx JSON error (status,
 * `error.name`, `error.message`, `response.statusCode`), or Node's own bare 4xx for a
 * request its parser refused before any plugin code ran.
 */
export function refusalProblems(ex: Exchange, method: string): string[] {
  const r = ex.response;
  if (!r) return [`no answer (${ex.hung ? 'hung' : 'connection closed'}): ${JSON.stringify(ex.raw.slice(0, 300))}`];
  if (r.status < 400 || r.status > 499) {
    return [`a request that reached no upstream was answered ${r.status}, not a 4xx: ${r.body.slice(0, 300)}`];
  }
  if (/^HTTP\/1\.1 4\d\d [^\r]*\r\nConnection: close\r\n\r\n$/.test(ex.raw)) {
    return []; // Node's HTTP parser: a bare status line, before Backstage or the plugin.
  }
  const type = String(r.headers['content-type'] ?? '');
  if (!/^application\/json\b/.test(type)) {
    return [`a ${r.status} refusal is not JSON (content-type ${type}): ${r.body.slice(0, 300)}`];
  }
  if (method === 'HEAD') return [];
  try {
    const body = JSON.parse(r.body);
    if (
      typeof body?.error?.name !== 'string' ||
      typeof body?.error?.message !== 'string' ||
      body.error.message === '' ||
      body?.response?.statusCode !== r.status
    ) {
      return [`a ${r.status} refusal lacks error.name, error.message or response.statusCode: ${r.body.slice(0, 300)}`];
    }
  } catch {
    return [`a ${r.status} refusal's body is not JSON: ${r.body.slice(0, 300)}`];
  }
  return [];
}

/** A normalising server's reading of a path: decoded until stable, `\` as `/`, dot segments resolved. */
export function normalisedSegments(url: string): string[] {
  let text = url.split('?')[0];
  for (let round = 0; round < 5; round++) {
    let next: string;
    try {
      next = decodeURIComponent(text);
    } catch {
      break;
    }
    if (next === text) break;
    text = next;
  }
  const out: string[] = [];
  for (const segment of text.replace(/\\/g, '/').split('/')) {
    if (segment === '..') out.pop();
    else if (segment !== '' && segment !== '.') out.push(segment);
  }
  return out;
}

/** Problems unless the request target stays under `base`: literally (as S3 reads it) and normalised. */
export function outsideBaseProblems(url: string, base: string): string[] {
  const path = url.split('?')[0];
  const literal = base.endsWith('/')
    ? path.startsWith(base)
    : path === base || path.startsWith(`${base}/`);
  const problems: string[] = [];
  if (!literal) problems.push(`the upstream saw ${path}, not under the base path ${base}`);
  const baseSegments = base.split('/').filter(Boolean);
  const read = normalisedSegments(path);
  if (baseSegments.some((s, i) => read[i] !== s)) {
    problems.push(`a normalising upstream reads ${path} as /${read.join('/')}, outside ${base}`);
  }
  return problems;
}

/** Every secret (in any listed spelling) that occurs in `text`, with where. */
export function secretProblems(where: string, text: string, secrets: string[]): string[] {
  return secrets
    .filter(s => s !== '' && text.includes(s))
    .map(s => `${where} contains the secret ${JSON.stringify(s.slice(0, 12))}...`);
}

/** An answer's headers and body as one text, to look for secrets in. */
export function answerText(r: ParsedResponse): string {
  return `${Object.entries(r.headers)
    .map(([k, v]) => `${k}: ${([] as string[]).concat(v ?? []).join(', ')}`)
    .join('\n')}\n\n${r.body}`;
}

/**
 * Problems unless an answer a browser could render as HTML, SVG or XML carries a sandbox
 * policy and `x-content-type-options: nosniff`; a relayed upstream answer carries nosniff
 * whatever its type (the plugin's own JSON errors get it from Backstage's helmet in a real
 * backend, which the test backend does not have).
 */
export function activeContentProblems(r: ParsedResponse, method: string, relayed: boolean): string[] {
  const problems: string[] = [];
  const hasBody = method !== 'HEAD' && r.body.length > 0;
  const active = hasBody && couldRenderAsActiveContent(r.headers['content-type']);
  const nosniff = ([] as string[]).concat(r.headers['x-content-type-options'] ?? []);
  if ((active || relayed) && !nosniff.some(v => v.trim().toLowerCase() === 'nosniff')) {
    problems.push(`a ${r.status} answer lacks x-content-type-options: nosniff (has ${JSON.stringify(nosniff)})`);
  }
  if (active && !hasSandboxPolicy(r.headers['content-security-policy'])) {
    problems.push(
      `a ${r.status} answer a browser renders as ${JSON.stringify(r.headers['content-type'] ?? '(sniffed)')} has no sandbox policy (content-security-policy: ${JSON.stringify(r.headers['content-security-policy'])})`,
    );
  }
  return problems;
}

/** Caller headers that never reach an upstream, whatever the route allows. */
const NEVER_UPSTREAM = /^(cookie|forwarded|x-real-ip|keep-alive|te|trailer|upgrade|proxy-.*|x-forwarded-.*|sec-.*)$/;

/** What the caller sent, as far as the checks of what arrived need it. */
export interface Sent {
  method: string;
  headers: [string, string][];
  body?: Buffer;
}

/**
 * Problems with how a forwarded request arrived: a signature aws4 rejects, an unsigned
 * x-amz-* header (S3 refuses those), a session token on a route without one, a body other
 * than the one sent.
 */
export function signatureProblems(received: ReceivedRequest, temporary: boolean, sent: Sent): string[] {
  const problems: string[] = [];
  if (received.signatureError) problems.push(`aws4 rejects the signature: ${received.signatureError}`);
  const signed = new Set(received.signedHeaders ?? []);
  for (const name of Object.keys(received.headers)) {
    if (name.startsWith('x-amz-') && !signed.has(name)) {
      problems.push(`${name} arrived unsigned`);
    }
  }
  if (!temporary && received.headers['x-amz-security-token'] !== undefined) {
    problems.push('a session token went upstream on a route whose credentials have none');
  }
  const body = sent.body ?? Buffer.alloc(0);
  const bodyless = ['GET', 'HEAD', 'DELETE', 'OPTIONS'].includes(sent.method) && received.body.length === 0;
  if (!bodyless && !received.body.equals(body)) {
    problems.push(`the upstream got a ${received.body.length}-byte body, not the ${body.length} bytes sent`);
  }
  return problems;
}

/**
 * Problems with the headers of a forwarded request: the wrong Host, a hop-by-hop or
 * identifying header of the caller, a header the caller's Connection named (RFC 9110
 * 7.6.1), the caller's own credential headers or Authorization.
 */
export function headerProblems(received: ReceivedRequest, host: string, sent: Sent): string[] {
  const problems: string[] = [];
  if (received.headers.host !== host) {
    problems.push(`the upstream got Host ${received.headers.host}, not ${host}`);
  }
  for (const name of Object.keys(received.headers)) {
    if (NEVER_UPSTREAM.test(name)) problems.push(`the caller's ${name} reached the upstream`);
  }
  const named = sent.headers
    .filter(([n]) => n.toLowerCase() === 'connection')
    .flatMap(([, v]) => v.split(',').map(t => t.trim().toLowerCase()))
    .filter(t => t !== '' && t !== 'close' && t !== 'keep-alive');
  const sentNames = new Set(sent.headers.map(([n]) => n.toLowerCase()));
  for (const name of new Set(named)) {
    if (sentNames.has(name) && received.headers[name] !== undefined) {
      problems.push(`${name}, named by the caller's Connection header, reached the upstream (RFC 9110 7.6.1)`);
    }
  }
  for (const [name, value] of sent.headers) {
    const lower = name.toLowerCase();
    if (['x-amz-security-token', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-decoded-content-length'].includes(lower)) {
      const arrived = received.headers[lower];
      if (arrived !== undefined && value.trim() !== '' && arrived === value.trim()) {
        problems.push(`the caller's own ${lower} (${value}) reached the upstream`);
      }
    }
  }
  if (!received.headers.authorization?.startsWith('AWS4-HMAC-SHA256 ')) {
    problems.push(`the upstream got Authorization ${received.headers.authorization}`);
  }
  return problems;
}

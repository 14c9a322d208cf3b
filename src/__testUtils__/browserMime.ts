/*
 * What a browser makes of an answer's Content-Type, written here from the WHATWG
 * specifications and independent of the plugin's own code, so that the generated tests
 * judge the plugin's sandbox decision by a second reading:
 * - Fetch, "extract a MIME type": the header is read as a comma-separated list (commas in
 *   quoted strings do not split); the last value that parses as a MIME type wins, and
 *   `*\/*` is skipped.
 * - MIME Sniffing, "parse a MIME type": type and subtype are HTTP tokens around a `/`,
 *   surrounding HTTP whitespace is ignored, parameters follow a `;`.
 * - Content Security Policy: a header value is a comma-separated list of policies, each
 *   enforced; a policy is `;`-separated directives, a directive a name and its tokens.
 */

const HTTP_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const HTTP_TAB_OR_SPACE = /^[\t ]+|[\t ]+$/g;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** MIME Sniffing "parse a MIME type", to its essence (`type/subtype`, lower-case); undefined on failure. */
export function parseMimeEssence(input: string): string | undefined {
  const text = input.replace(HTTP_WHITESPACE, '');
  const slash = text.indexOf('/');
  if (slash === -1) return undefined;
  const type = text.slice(0, slash);
  if (!TOKEN.test(type)) return undefined;
  const semicolon = text.indexOf(';', slash + 1);
  const subtype = text
    .slice(slash + 1, semicolon === -1 ? undefined : semicolon)
    .replace(/[\t\n\r ]+$/, '');
  if (!TOKEN.test(subtype)) return undefined;
  return `${type}/${subtype}`.toLowerCase();
}

/** Fetch "get, decode, and split": the combined value split on commas outside quoted strings. */
export function splitHeaderList(combined: string): string[] {
  const values: string[] = [];
  let value = '';
  let i = 0;
  while (i < combined.length) {
    const c = combined[i];
    if (c === '"') {
      // A quoted string, to its closing quote (a backslash escapes the next character).
      value += c;
      i++;
      while (i < combined.length && combined[i] !== '"') {
        if (combined[i] === '\\' && i + 1 < combined.length) {
          value += combined[i];
          i++;
        }
        value += combined[i];
        i++;
      }
      if (i < combined.length) {
        value += '"';
        i++;
      }
      continue;
    }
    if (c === ',') {
      values.push(value.replace(HTTP_TAB_OR_SPACE, ''));
      value = '';
      i++;
      continue;
    }
    value += c;
    i++;
  }
  values.push(value.replace(HTTP_TAB_OR_SPACE, ''));
  return values;
}

/**
 * Fetch "extract a MIME type" from the Content-Type header lines of an answer (as many as
 * arrived): the essence a browser uses, or undefined when there is none (no header, or no
 * value that parses), in which case a browser may sniff.
 */
export function browserMimeEssence(
  contentType: string | string[] | undefined,
): string | undefined {
  if (contentType === undefined) return undefined;
  const combined = ([] as string[]).concat(contentType).join(', ');
  let essence: string | undefined;
  for (const value of splitHeaderList(combined)) {
    const parsed = parseMimeEssence(value);
    if (parsed === undefined || parsed === '*/*') continue;
    essence = parsed;
  }
  return essence;
}

/** Types a browser renders as a document that can run script or load active content. */
const ACTIVE = new Set([
  'text/html',
  'application/xhtml+xml',
  'image/svg+xml',
  'text/xml',
  'application/xml',
  'text/xsl',
  'application/xslt+xml',
  'multipart/x-mixed-replace',
  // The "unknown" types: a browser sniffs them, and may find HTML.
  'unknown/unknown',
  'application/unknown',
]);

/**
 * True when a browser that opens the answer could render it as HTML, SVG or XML: a type
 * it renders so (any `+xml` type too), or no usable type at all (it would sniff).
 */
export function couldRenderAsActiveContent(
  contentType: string | string[] | undefined,
): boolean {
  const essence = browserMimeEssence(contentType);
  return essence === undefined || ACTIVE.has(essence) || essence.endsWith('+xml');
}

/**
 * True when at least one of the enforced policies has a `sandbox` directive that neither
 * allows scripts nor keeps the origin: the answer then runs no script at the backend's origin.
 */
export function hasSandboxPolicy(csp: string | string[] | undefined): boolean {
  if (csp === undefined) return false;
  const combined = ([] as string[]).concat(csp).join(', ');
  return combined.split(',').some(policy => {
    // A policy's first directive of a name counts; later ones are ignored.
    const sandbox = policy
      .split(';')
      .map(directive => directive.trim().split(/[\t\n\f\r ]+/))
      .find(([name]) => name?.toLowerCase() === 'sandbox');
    if (!sandbox) return false;
    const tokens = sandbox.slice(1).map(t => t.toLowerCase());
    return !tokens.includes('allow-scripts') && !tokens.includes('allow-same-origin');
  });
}

/*
 * The MIME type a browser reads from a Content-Type header, by the algorithms browsers follow:
 * WHATWG MIME Sniffing "parse a MIME type" and WHATWG Fetch "extract a MIME type" (with its
 * "get, decode, and split"). A header is a comma-separated list and the browser takes the last
 * valid type in it, so `application/pdf;, text/html` is HTML: a prefix test on the header tells
 * nothing about what a browser will do with the answer.
 */

/** A parsed MIME type; `type`, `subtype` and parameter names are lower case. */
export interface MimeType {
  type: string;
  subtype: string;
  /** `type/subtype`. */
  essence: string;
  /** In the order first seen; a repeated name keeps its first value. */
  parameters: Map<string, string>;
}

// U+0009, U+000A, U+000D, U+0020 (HTTP whitespace); U+0009, U+0020 (HTTP tab or space).
const HTTP_WHITESPACE = /[\t\n\r ]/;
const LEADING_HTTP_WHITESPACE = /^[\t\n\r ]+/;
const TRAILING_HTTP_WHITESPACE = /[\t\n\r ]+$/;
const HTTP_TAB_OR_SPACE_AROUND = /^[\t ]+|[\t ]+$/g;
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HTTP_QUOTED_STRING_TOKEN = /^[\t\u0020-\u007E\u0080-\u00FF]*$/;

/** Collects code points from `position` while `accept` holds (Infra's "collect a sequence"). */
function collect(
  input: string,
  position: number,
  accept: (c: string) => boolean,
): [string, number] {
  let end = position;
  while (end < input.length && accept(input[end])) end++;
  return [input.slice(position, end), end];
}

/**
 * Fetch's "collect an HTTP quoted string", from the `"` at `position`. With `extractValue`,
 * the unescaped value; without, the source text including the quotes (and the backslashes).
 */
function collectQuotedString(
  input: string,
  start: number,
  extractValue: boolean,
): [string, number] {
  let position = start + 1; // past the opening quote
  let value = '';
  for (;;) {
    const [run, next] = collect(input, position, c => c !== '"' && c !== '\\');
    value += run;
    position = next;
    if (position >= input.length) break;
    const quoteOrBackslash = input[position];
    position++;
    if (quoteOrBackslash === '\\') {
      if (position >= input.length) {
        value += '\\';
        break;
      }
      value += input[position];
      position++;
    } else {
      break; // the closing quote
    }
  }
  return [extractValue ? value : input.slice(start, position), position];
}

/** MIME Sniffing's "parse a MIME type": undefined for failure. */
export function parseMimeType(text: string): MimeType | undefined {
  const input = text.replace(LEADING_HTTP_WHITESPACE, '').replace(TRAILING_HTTP_WHITESPACE, '');
  let position = 0;
  const [type, afterType] = collect(input, position, c => c !== '/');
  position = afterType;
  if (!HTTP_TOKEN.test(type) || position >= input.length) return undefined;
  position++; // past "/"
  let subtype: string;
  [subtype, position] = collect(input, position, c => c !== ';');
  subtype = subtype.replace(TRAILING_HTTP_WHITESPACE, '');
  if (!HTTP_TOKEN.test(subtype)) return undefined;

  const mimeType: MimeType = {
    type: type.toLowerCase(),
    subtype: subtype.toLowerCase(),
    essence: `${type}/${subtype}`.toLowerCase(),
    parameters: new Map(),
  };
  while (position < input.length) {
    position++; // past ";"
    [, position] = collect(input, position, c => HTTP_WHITESPACE.test(c));
    let name: string;
    [name, position] = collect(input, position, c => c !== ';' && c !== '=');
    name = name.toLowerCase();
    if (position < input.length) {
      if (input[position] === ';') continue;
      position++; // past "="
    }
    if (position >= input.length) break;
    let value: string;
    if (input[position] === '"') {
      [value, position] = collectQuotedString(input, position, true);
      [, position] = collect(input, position, c => c !== ';');
    } else {
      [value, position] = collect(input, position, c => c !== ';');
      value = value.replace(TRAILING_HTTP_WHITESPACE, '');
      if (value === '') continue;
    }
    if (
      name !== '' &&
      HTTP_TOKEN.test(name) &&
      HTTP_QUOTED_STRING_TOKEN.test(value) &&
      !mimeType.parameters.has(name)
    ) {
      mimeType.parameters.set(name, value);
    }
  }
  return mimeType;
}

/**
 * Fetch's "get, decode, and split" of one header value: the comma-separated values, with
 * commas inside quoted strings kept, each trimmed of tabs and spaces.
 */
export function splitHeaderValue(input: string): string[] {
  const values: string[] = [];
  let position = 0;
  let value = '';
  for (;;) {
    const [run, next] = collect(input, position, c => c !== '"' && c !== ',');
    value += run;
    position = next;
    if (position < input.length && input[position] === '"') {
      const [quoted, after] = collectQuotedString(input, position, false);
      value += quoted;
      position = after;
      if (position < input.length) continue;
    }
    values.push(value.replace(HTTP_TAB_OR_SPACE_AROUND, ''));
    value = '';
    if (position >= input.length) return values;
    position++; // past ","
  }
}

/**
 * Fetch's "extract a MIME type" from a Content-Type header as Node holds it (several fields
 * are one list, joined by ", "): the last valid type that is not `*\/*`, carrying the charset
 * of an earlier value of the same essence. Undefined when there is none: the browser then
 * sniffs, unless told `nosniff`.
 */
export function extractMimeType(
  contentType: string | number | readonly string[] | undefined,
): MimeType | undefined {
  if (contentType === undefined) return undefined;
  const joined = Array.isArray(contentType) ? contentType.join(', ') : String(contentType);
  let charset: string | undefined;
  let essence: string | undefined;
  let mimeType: MimeType | undefined;
  for (const value of splitHeaderValue(joined)) {
    const parsed = parseMimeType(value);
    if (!parsed || parsed.essence === '*/*') continue;
    mimeType = parsed;
    if (mimeType.essence !== essence) {
      charset = mimeType.parameters.get('charset');
      essence = mimeType.essence;
    } else if (!mimeType.parameters.has('charset') && charset !== undefined) {
      mimeType.parameters.set('charset', charset);
    }
  }
  return mimeType;
}

/**
 * Serialises a MIME type as MIME Sniffing does: parameter values that are not tokens are
 * quoted, with `"` and `\` escaped.
 */
export function serializeMimeType(mimeType: MimeType): string {
  let out = mimeType.essence;
  for (const [name, value] of mimeType.parameters) {
    out += `;${name}=`;
    out += value === '' || !HTTP_TOKEN.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : value;
  }
  return out;
}

// MIME Sniffing's "JavaScript MIME type essence match".
const JAVASCRIPT_ESSENCES: ReadonlySet<string> = new Set([
  'application/ecmascript',
  'application/javascript',
  'application/x-ecmascript',
  'application/x-javascript',
  'text/ecmascript',
  'text/javascript',
  'text/javascript1.0',
  'text/javascript1.1',
  'text/javascript1.2',
  'text/javascript1.3',
  'text/javascript1.4',
  'text/javascript1.5',
  'text/jscript',
  'text/livescript',
  'text/x-ecmascript',
  'text/x-javascript',
]);

/** True for a type a browser runs as a script (MIME Sniffing's JavaScript MIME types). */
export function isJavaScriptMimeType(mimeType: MimeType): boolean {
  return JAVASCRIPT_ESSENCES.has(mimeType.essence);
}

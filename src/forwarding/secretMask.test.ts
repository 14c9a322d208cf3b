import { SecretMask } from './secretMask';

const TOKEN = 'IQoJb3Jp+Z2lu/X2Vj==';
const ENCODED = encodeURIComponent(TOKEN); // IQoJb3Jp%2BZ2lu%2FX2Vj%3D%3D
const stars = (s: string) => '*'.repeat(s.length);
const mask = () => SecretMask.of(TOKEN)!;

/** Streams `text` through a mask in pieces of the given sizes (cycled). */
function streamed(text: string, sizes: number[]): string {
  const m = mask();
  const out: Buffer[] = [];
  const bytes = Buffer.from(text, 'latin1');
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length];
    out.push(m.write(bytes.subarray(at, at + size)));
    at += size;
  }
  out.push(m.end());
  return Buffer.concat(out).toString('latin1');
}

describe('SecretMask', () => {
  const text = `a${TOKEN}b${ENCODED}c${TOKEN}${TOKEN}d${TOKEN.replace(/\//g, '\\/')}${TOKEN.slice(0, 9)}`;
  const expected = text
    .split(TOKEN).join(stars(TOKEN))
    .split(ENCODED).join(stars(ENCODED))
    .split(TOKEN.replace(/\//g, '\\/')).join(stars(TOKEN.replace(/\//g, '\\/')));

  it('masks the token as sent, URL-encoded and JSON-escaped, keeping every length', () => {
    const whole = mask().maskAll(Buffer.from(text, 'latin1')).toString('latin1');
    expect(whole).toBe(expected);
    expect(whole).not.toContain(TOKEN);
    expect(whole.length).toBe(text.length);
  });

  it('masks the same however the stream is cut', () => {
    for (const sizes of [[1], [2], [3], [7], [TOKEN.length - 1], [TOKEN.length], [TOKEN.length + 1], [1, 5, 2, 11], [1000]]) {
      expect(streamed(text, sizes)).toBe(expected);
    }
    for (let cut = 0; cut <= text.length; cut++) {
      expect(streamed(text, [cut || 1, text.length])).toBe(expected);
    }
  });

  it('masks a lower-case URL-encoded token', () => {
    const lower = ENCODED.replace(/%[0-9A-F]{2}/g, e => e.toLowerCase());
    expect(mask().maskAll(Buffer.from(`x${lower}y`)).toString()).toBe(`x${stars(lower)}y`);
  });

  it('finds a token that overlaps a false start', () => {
    const m = SecretMask.of('aab')!;
    expect(m.maskAll(Buffer.from('aaab')).toString()).toBe('a***');
    const s = SecretMask.of('aab')!;
    expect(Buffer.concat([s.write(Buffer.from('aa')), s.write(Buffer.from('ab')), s.end()]).toString()).toBe('a***');
  });

  it('holds back nothing when the end of a piece cannot begin the token: streamed events are not delayed', () => {
    const m = mask();
    const event = Buffer.from('data: {"delta":"I"}\n\n');
    expect(m.write(event)).toEqual(event);
  });

  it('holds back a possible start of the token, and passes it on unchanged at the end', () => {
    const m = mask();
    const start = TOKEN.slice(0, 12);
    expect(m.write(Buffer.from(`text ${start}`)).toString()).toBe('text ');
    expect(m.end().toString()).toBe(start);
  });

  it('masks header names and values, and leaves other headers alone', () => {
    const headers: Record<string, string | string[] | number> = {
      'x-amz-meta-a': `k=${TOKEN}`,
      [`x-amz-${TOKEN.toLowerCase()}`]: '1',
      'x-list': ['a', ENCODED],
      'content-length': 10,
    };
    mask().maskHeaders(headers);
    expect(headers).toEqual({
      'x-amz-meta-a': `k=${stars(TOKEN)}`,
      [`x-amz-${stars(TOKEN)}`]: '1',
      'x-list': ['a', stars(ENCODED)],
      'content-length': 10,
    });
  });

  it('is none without a token', () => {
    expect(SecretMask.of(undefined)).toBeUndefined();
    expect(SecretMask.of('')).toBeUndefined();
  });
});

// Found by a red-team pass over 0.3.0: echoes in encoders' own forms.
const ECHO_TOKEN = 'IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+abc/def+ghi==';

function throughMask(m: SecretMask, ...batches: string[]): string {
  const out = batches.map(b => m.write(Buffer.from(b, 'latin1')).toString('latin1'));
  return out.join('') + m.end().toString('latin1');
}

it.each([
  ['/ as \\/', (t: string) => t.replace(/\//g, '\\/')],
  ['/ as \\u002f, = as \\u003d', (t: string) => t.replace(/\//g, '\\u002f').replace(/=/g, '\\u003d')],
  ['every + / = as \\u00XX', (t: string) => t.replace(/[+/=]/g, c => `\\u00${c.charCodeAt(0).toString(16).toUpperCase()}`)],
])('masks the token JSON-escaped with %s, keeping the length', (_how, escape) => {
  const text = `{"token":"${escape(ECHO_TOKEN)}"}`;
  const out = throughMask(SecretMask.of(ECHO_TOKEN)!, text);
  expect(out).not.toContain('IQoJb3JpZ2luX2VjEJr');
  expect(out).toHaveLength(text.length);
});

it('masks the token JSON-escaped with \\u002B for + (System.Text.Json, .NET default)', () => {
  const escaped = ECHO_TOKEN.replace(/\+/g, '\\u002B');
  const out = throughMask(SecretMask.of(ECHO_TOKEN)!, `{"headers":{"x-amz-security-token":"${escaped}"}}`);
  expect(out).not.toContain('IQoJb3JpZ2luX2VjEJr');
});

it("masks the token percent-encoded with '/' left literal (Python's urllib.parse.quote)", () => {
  const quoted = encodeURIComponent(ECHO_TOKEN).replace(/%2F/g, '/');
  const out = throughMask(SecretMask.of(ECHO_TOKEN)!, `https://x/?next=${quoted}`);
  expect(out).not.toContain('IQoJb3JpZ2luX2VjEJr');
});

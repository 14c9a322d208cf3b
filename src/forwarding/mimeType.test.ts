import { MIMEType } from 'node:util';
import fc from 'fast-check';
import {
  extractMimeType,
  isJavaScriptMimeType,
  parseMimeType,
  serializeMimeType,
  splitHeaderValue,
} from './mimeType';

const extracted = (value: string | string[]) => {
  const type = extractMimeType(value);
  return type && serializeMimeType(type);
};

describe('extractMimeType', () => {
  it('takes the last valid type of the list, as browsers do: the finding of issue 13', () => {
    expect(extracted('application/pdf;, text/html')).toBe('text/html');
    expect(extracted('text/html;charset=utf-8, application/pdf')).toBe('application/pdf');
    expect(extracted('application/pdf, text/html;')).toBe('text/html');
  });

  // The examples of WHATWG Fetch, "extract a MIME type".
  it.each<[string | string[], string]>([
    ['text/plain;charset=gbk, text/html', 'text/html'],
    ['text/html;charset=gbk;a=b, text/html;x=y', 'text/html;x=y;charset=gbk'],
    [['text/html;charset=gbk;a=b', 'text/html;x=y'], 'text/html;x=y;charset=gbk'],
    [['text/html;charset=gbk', 'x/x', 'text/html;x=y'], 'text/html;x=y'],
    [['text/html', 'cannot-parse'], 'text/html'],
    [['text/html', '*/*'], 'text/html'],
    [['text/html', ''], 'text/html'],
  ])('Fetch example %j is %s', (header, type) => {
    expect(extracted(header)).toBe(type);
  });

  it('finds no type where there is none, and the browser then sniffs', () => {
    for (const header of [undefined, '', '*/*', 'text', 'text/', '/html', ',', 'text/html/;x']) {
      expect(extractMimeType(header)).toBeUndefined();
    }
  });

  it('does not split inside a quoted parameter', () => {
    expect(extracted('text/plain;a="x, text/html"')).toBe('text/plain;a="x, text/html"');
    expect(extracted('text/plain;a="\\", text/html"')).toBe('text/plain;a="\\", text/html"');
    // A comma after the closing quote splits.
    expect(extracted('text/plain;a="x", text/html')).toBe('text/html');
  });

  it('reads odd casing, whitespace and quoting as browsers do', () => {
    expect(extracted(' Application/PDF ')).toBe('application/pdf');
    expect(extracted('TEXT/HTML ; Charset="UTF-8"')).toBe('text/html;charset=UTF-8');
    expect(extracted('text/html\t;\tcharset=utf-8')).toBe('text/html;charset=utf-8');
    expect(extracted('application/pdf ,text/html')).toBe('text/html');
    expect(extracted('application/pdf; x="a,b"; y=c')).toBe('application/pdf;x="a,b";y=c');
    expect(extracted('text / html')).toBeUndefined();
    expect(extracted('application/pdf, text /html')).toBe('application/pdf');
  });

  it('takes a number (Node allows one) as text', () => {
    expect(extractMimeType(1)).toBeUndefined();
  });
});

describe('splitHeaderValue', () => {
  // The examples of WHATWG Fetch, "get, decode, and split".
  it.each<[string, string[]]>([
    ['nosniff,', ['nosniff', '']],
    ['', ['']],
    ['text/html;", x/x', ['text/html;", x/x']],
    ['x/x;test="hi",y/y', ['x/x;test="hi"', 'y/y']],
    ['x / x,,,1', ['x / x', '', '', '1']],
    ['"1,2", 3', ['"1,2"', '3']],
    ['"1,\\"2\\"",3', ['"1,\\"2\\""', '3']],
  ])('splits %j into %j', (value, values) => {
    expect(splitHeaderValue(value)).toEqual(values);
  });
});

describe('parseMimeType', () => {
  it.each<[string, string | undefined]>([
    ['text/html;charset=gbk', 'text/html;charset=gbk'],
    ['TEXT/HTML;CHARSET=GBK', 'text/html;charset=GBK'],
    ['text/html;charset=gbk(', 'text/html;charset="gbk("'],
    ['text/html;x=(;charset=gbk', 'text/html;x="(";charset=gbk'],
    ['text/html;charset=gbk;charset=windows-1255', 'text/html;charset=gbk'],
    ['text/html;charset=";charset=foo";charset=gbk', 'text/html;charset=";charset=foo"'],
    ['text/html;charset="gbk"x', 'text/html;charset=gbk'],
    ['text/html;charset=', 'text/html'],
    ['text/html;charset', 'text/html'],
    ['text/html;;;;charset=gbk', 'text/html;charset=gbk'],
    ['text/html;charset= gbk', 'text/html;charset=" gbk"'],
    ['text/html;charset="\\g\\b\\k"', 'text/html;charset=gbk'],
    ['text/html;charset="gbk', 'text/html;charset=gbk'],
    ['text/html;charset="gbk\\', 'text/html;charset="gbk\\\\"'],
    ['text/html;test=\u00FF;charset=gbk', 'text/html;test="\u00FF";charset=gbk'],
    ['text/html;test=\u0100;charset=gbk', 'text/html;charset=gbk'],
    ['x/x;x=" "', 'x/x;x=" "'],
    ['x/x;x=""', 'x/x;x=""'],
    ['\u000Bx/x', undefined],
    ['x/x\u000C', undefined],
    ['text/html\u0000', undefined],
    ['\u2028text/html', undefined],
    ['*/*', '*/*'],
    ['', undefined],
    ['x', undefined],
  ])('parses %j as %j', (input, serialised) => {
    const type = parseMimeType(input);
    expect(type && serializeMimeType(type)).toBe(serialised);
  });

  it("agrees with Node's own WHATWG parser (util.MIMEType) on generated input", () => {
    const alphabet = fc.constantFrom(
      ...'aZ/;= \t\r\n",\\()\u00FF\u0100+-.*'.split(''),
      'text',
      'html',
      'charset',
    );
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 24 }).map(a => a.join('')), input => {
        let expected: string | undefined;
        try {
          expected = new MIMEType(input).toString();
        } catch {
          expected = undefined;
        }
        const ours = parseMimeType(input);
        expect(ours && serializeMimeType(ours)).toBe(expected);
      }),
      { seed: 13, numRuns: 5000 },
    );
  });
});

describe('isJavaScriptMimeType', () => {
  it('knows the JavaScript MIME types a script element runs', () => {
    for (const type of ['text/javascript', 'application/javascript', 'TEXT/JScript', 'text/javascript1.5']) {
      expect(isJavaScriptMimeType(parseMimeType(type)!)).toBe(true);
    }
    for (const type of ['text/plain', 'application/json', 'text/javascript2.0', 'application/wasm']) {
      expect(isJavaScriptMimeType(parseMimeType(type)!)).toBe(false);
    }
  });
});

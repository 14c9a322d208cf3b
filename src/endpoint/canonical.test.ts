import {
  canonicalPath,
  canonicalQuery,
  formatCanonicalQuery,
  MAX_QUERY_PARAMETERS,
  rfc3986,
  strictDecode,
} from './canonical';

describe('rfc3986', () => {
  it('keeps only unreserved characters literal, with upper-case hex', () => {
    expect(rfc3986("AZaz09-_.~ !*'()/+:@&=?#%é")).toBe(
      'AZaz09-_.~%20%21%2A%27%28%29%2F%2B%3A%40%26%3D%3F%23%25%C3%A9',
    );
  });
});

describe('strictDecode', () => {
  it('decodes UTF-8 escapes and leaves + alone', () => {
    expect(strictDecode('a+b%20%C3%A9%e2%82%ac', 'path')).toBe('a+b é€');
  });
  it.each([
    ['%zz', /Malformed/],
    ['%4', /Malformed/],
    ['%C0%AE', /UTF-8/], // overlong '.'
    ['%ED%A0%80', /UTF-8/], // surrogate
    ['%FF', /UTF-8/],
    ['a%00b', /Control/],
    ['a%0D%0Ab', /Control/],
    ['a%7Fb', /Control/],
  ])('refuses %s', (raw, message) => {
    expect(() => strictDecode(raw, 'path')).toThrow(message);
  });
});

describe('canonicalPath', () => {
  it.each([
    // [raw, non-S3 wire form, S3 wire form]
    ['/a/b', '/a/b', '/a/b'],
    ['', '', ''],
    ['/', '/', '/'],
    ['/a/', '/a/', '/a/'],
    ['/a%20b', '/a%20b', '/a%20b'],
    ['/a b', '/a%20b', '/a%20b'],
    ['/a+b', '/a%2Bb', '/a%2Bb'],
    ["/it's(1)!*:@", '/it%27s%281%29%21%2A%3A%40', '/it%27s%281%29%21%2A%3A%40'],
    ['/%7euser/%41', '/~user/A', '/~user/A'],
    ['/caf%C3%A9', '/caf%C3%A9', '/caf%C3%A9'],
    ['/a%2Fb', '/a%2Fb', '/a/b'],
    ['/a%2fb/c', '/a%2Fb/c', '/a/b/c'],
    ['/a//b', '/a/b', '/a//b'],
    ['//a///b//', '/a/b/', '//a///b//'],
    ['/a\\b', '/a%5Cb', '/a%5Cb'],
    ['/x.y/..z/.hidden', '/x.y/..z/.hidden', '/x.y/..z/.hidden'],
  ])('%s goes out as %s (generic) and %s (S3)', (raw, generic, s3) => {
    expect(canonicalPath(raw, false)).toBe(generic);
    expect(canonicalPath(raw, true)).toBe(s3);
  });

  it.each([
    '/..',
    '/a/../b',
    '/a/./b',
    '/.',
    '/%2e%2e/x',
    '/%2E%2E',
    '/.%2e',
    '/%2e',
    '/%252e%252e/x',
    '/%25252e%25252e',
    '/..%2fsecret',
    '/..%2Fsecret',
    '/a%2f..',
    '/..%5csecret',
    '/..\\secret',
    '/a\\..\\b',
  ])('refuses the dot segment in %s', raw => {
    expect(() => canonicalPath(raw, false)).toThrow(/Dot segments/);
    expect(() => canonicalPath(raw, true)).toThrow(/Dot segments/);
  });

  it.each(['/%00', '/%C0%AE%C0%AE', '/%zz', '/a%0Ab'])('refuses %s', raw => {
    expect(() => canonicalPath(raw, false)).toThrow();
  });
});

describe('canonicalQuery', () => {
  it.each([
    ['', ''],
    ['a=1', 'a=1'],
    ['b=2&a=1', 'a=1&b=2'],
    ['a=2&a=1&a=10', 'a=1&a=10&a=2'],
    ['flag', 'flag='],
    ['flag=', 'flag='],
    ['q=a+b', 'q=a%20b'],
    ['q=a%2Bb', 'q=a%2Bb'],
    ['q=a%20b', 'q=a%20b'],
    ["q=it's(1)!*", 'q=it%27s%281%29%21%2A'],
    ['q=%7E~', 'q=~~'],
    ['k%20ey=v', 'k%20ey=v'],
    ['q=caf%C3%A9', 'q=caf%C3%A9'],
    ['a=1&&b=2&', 'a=1&b=2'],
    ['x=a=b', 'x=a%3Db'],
    // Sorted by encoded key: upper case before lower case, '%' before letters
    ['b=1&B=2&%21=3', '%21=3&B=2&b=1'],
    ['prefix=photos/2024/&list-type=2', 'list-type=2&prefix=photos%2F2024%2F'],
  ])('%s goes out as %s', (raw, wire) => {
    expect(canonicalQuery(raw).wire).toBe(wire);
  });

  it('keeps __proto__ as an ordinary parameter', () => {
    const { params, wire } = canonicalQuery('__proto__=x&constructor=y');
    expect(wire).toBe('__proto__=x&constructor=y');
    expect(Object.keys(params)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(params, '__proto__')?.value).toBe('x');
  });

  it('keeps repeated keys as lists for the signer', () => {
    expect(canonicalQuery('a=2&a=1&b=x').params).toEqual({ a: ['2', '1'], b: 'x' });
  });

  it.each(['a=2&a=1', 'versions&versions=', 'k=1&%6B=2'])(
    'refuses the repeated key in %s on S3, which signs only its first value',
    raw => {
      expect(() => canonicalQuery(raw, true)).toThrow(/is repeated; S3 reads only its first value/);
    },
  );

  it.each(['X-Amz-Signature=abc', 'x-amz-credential=a', 'X-Amz-Algorithm=AWS4-HMAC-SHA256'])(
    'refuses the caller-supplied auth parameter %s',
    raw => {
      expect(() => canonicalQuery(raw)).toThrow(/reserved for SigV4/);
    },
  );

  it.each(['a=%zz', 'a=%00', '=v', 'a=%C0%80'])('refuses %s', raw => {
    expect(() => canonicalQuery(raw)).toThrow();
  });

  it.each([
    ['X-Amz-Region-Set=*', /reserved for SigV4/],
    ['AWSAccessKeyId=AKIDEVIL', /reserved for SigV2/],
    ['awsaccesskeyid=AKIDEVIL', /reserved for SigV2/],
    ['%41WSAccessKeyId=AKIDEVIL', /reserved for SigV2/],
    ['Signature=abc', /reserved for SigV2/],
    ['SIGNATURE=abc', /reserved for SigV2/],
    ['SignatureMethod=HmacSHA256', /reserved for SigV2/],
    ['SignatureVersion=2', /reserved for SigV2/],
  ])('refuses the caller-supplied auth parameter %s on every route', (raw, message) => {
    expect(() => canonicalQuery(raw, false)).toThrow(message);
    expect(() => canonicalQuery(raw, true)).toThrow(message);
  });

  it.each(['Expires=1700000000', 'expires=1', 'EXPIRES='])(
    "refuses %s on S3 (SigV2's expiry there) and forwards it elsewhere (an API's own parameter)",
    raw => {
      expect(() => canonicalQuery(raw, true)).toThrow(/reserved for SigV2/);
      expect(canonicalQuery(raw, false).wire).toBe(raw.includes('=') ? raw : `${raw}=`);
    },
  );

  it.each(['session', 'session=', '%73ession', 'Session', 'list-type=2&session'])(
    'refuses ?%s on S3 routes: CreateSession answers with credentials for the bucket',
    raw => {
      expect(() => canonicalQuery(raw, true)).toThrow(/CreateSession would hand the caller credentials/);
      expect(() => canonicalQuery(raw, false)).not.toThrow();
    },
  );

  it.each([
    'x-amz-acl=public-read',
    'X-Amz-Copy-Source=other-bucket%2Fsecret',
    '%78-amz-grant-read=uri%3Dall',
    'x-amz-request-payer=requester',
    'list-type=2&x-amzn-trace-id=1',
  ])('refuses ?%s on S3 routes, which read x-amz-* parameters as headers, and forwards it elsewhere', raw => {
    expect(() => canonicalQuery(raw, true)).toThrow(/S3 reads x-amz-\* parameters as headers/);
    expect(() => canonicalQuery(raw, false)).not.toThrow();
  });

  it.each(['signatures=1', 'x-signature=1', 'response-expires=Thu%2C%2001%20Jan%202026', 'x-id=PutObject', 'x-amz=1'])(
    'forwards %s, which only resembles an auth parameter',
    raw => {
      expect(() => canonicalQuery(raw, true)).not.toThrow();
    },
  );

  it(`accepts ${MAX_QUERY_PARAMETERS} parameters and refuses one more, repeated keys counted`, () => {
    const distinct = Array.from({ length: MAX_QUERY_PARAMETERS }, (_, i) => `k${i}=v`);
    expect(Object.keys(canonicalQuery(distinct.join('&')).params)).toHaveLength(MAX_QUERY_PARAMETERS);
    expect(() => canonicalQuery([...distinct, 'x=1'].join('&'))).toThrow(
      /Too many query parameters \(1001\); at most 1000/,
    );
    const repeated = Array.from({ length: MAX_QUERY_PARAMETERS + 1 }, () => 'a=1').join('&');
    expect(() => canonicalQuery(repeated)).toThrow(/Too many query parameters/);
    // Empty pieces (a&&b) are not parameters.
    expect(() => canonicalQuery(`${distinct.join('&')}&&&`)).not.toThrow();
  });

  it('counts before decoding: an over-long query of malformed escapes is refused for its length', () => {
    const raw = Array.from({ length: MAX_QUERY_PARAMETERS + 1 }, () => '%zz').join('&');
    expect(() => canonicalQuery(raw)).toThrow(/Too many query parameters/);
  });

  it('sends the canonical query of its parameters: what is signed (formatCanonicalQuery)', () => {
    for (const raw of ['b=2&a=1&a=0', 'flag&%41=%C3%A9', 'q=a+b&q=a%2Bb', '']) {
      const { params, wire } = canonicalQuery(raw);
      expect(formatCanonicalQuery(params)).toBe(wire);
    }
  });
});

import { OutgoingHttpHeaders } from 'node:http';
import {
  addSandboxPolicy,
  filterResponseHeaders,
  makeCachePrivate,
  neutraliseActiveType,
} from './responseHeaders';

describe('addSandboxPolicy', () => {
  it("keeps the policies already there (Backstage's, the upstream's) and adds the sandbox beside them", () => {
    const headers = { 'content-security-policy': "img-src 'none'" };
    addSandboxPolicy(headers, "default-src 'self'");
    expect(headers['content-security-policy']).toBe("default-src 'self', img-src 'none', sandbox");
  });

  it('adds the sandbox alone when no policy is set', () => {
    const headers = {};
    addSandboxPolicy(headers, undefined);
    expect(headers).toEqual({
      'content-security-policy': 'sandbox',
      'x-content-type-options': 'nosniff',
    });
  });

  it('sandboxes PDFs too, whatever the header says (Chromium shows a sandboxed PDF)', () => {
    for (const type of [
      'application/pdf',
      'application/pdf;, text/html',
      'Application/PDF; x=1',
      'text/html;charset=utf-8, application/pdf',
    ]) {
      const headers: OutgoingHttpHeaders = { 'content-type': type };
      addSandboxPolicy(headers, undefined);
      expect(headers['content-security-policy']).toBe('sandbox');
    }
  });

  it('sandboxes every answer, with or without a policy, whatever the response-* overrides asked', () => {
    for (const policy of [undefined, {}, { noAuthorizationHeader: true }, { privateCache: true }]) {
      for (const type of [undefined, 'text/html', 'image/svg+xml', 'application/pdf', '*/*']) {
        const headers: OutgoingHttpHeaders = type ? { 'content-type': type } : {};
        addSandboxPolicy(headers, undefined, policy);
        expect(headers['content-security-policy']).toBe('sandbox');
      }
    }
  });

  it("tells browsers never to sniff, replacing the upstream's choice", () => {
    const headers: OutgoingHttpHeaders = { 'x-content-type-options': 'sniff-away' };
    addSandboxPolicy(headers, undefined);
    expect(headers['x-content-type-options']).toBe('nosniff');
  });

  it('turns JavaScript and CSS into text only for requests without an Authorization header', () => {
    const withToken: OutgoingHttpHeaders = { 'content-type': 'text/javascript' };
    addSandboxPolicy(withToken, undefined, { privateCache: true });
    expect(withToken['content-type']).toBe('text/javascript');
    const withCookie: OutgoingHttpHeaders = { 'content-type': 'text/javascript' };
    addSandboxPolicy(withCookie, undefined, { noAuthorizationHeader: true });
    expect(withCookie['content-type']).toBe('text/plain');
  });

  it('leaves cache-control alone on open routes', () => {
    const headers: OutgoingHttpHeaders = { 'cache-control': 'public, max-age=60' };
    addSandboxPolicy(headers, undefined, { noAuthorizationHeader: true });
    expect(headers['cache-control']).toBe('public, max-age=60');
  });

  it('keeps answers to authenticated callers out of shared caches', () => {
    const headers: OutgoingHttpHeaders = { 'cache-control': 'public, max-age=60' };
    addSandboxPolicy(headers, undefined, { privateCache: true });
    expect(headers['cache-control']).toBe('max-age=60, private');
  });
});

describe('neutraliseActiveType', () => {
  it.each([
    ['text/javascript', 'text/plain'],
    ['application/javascript; charset=utf-8', 'text/plain;charset=utf-8'],
    ['TEXT/CSS;Charset="ISO-8859-1"', 'text/plain;charset=ISO-8859-1'],
    ['application/pdf;, text/javascript', 'text/plain'],
    ['text/css, */*', 'text/plain'],
    ['text/plain;charset=gbk, text/css', 'text/plain'],
  ])('turns %j, which a page could run or apply, into %j', (type, text) => {
    const headers: OutgoingHttpHeaders = { 'content-type': type };
    neutraliseActiveType(headers);
    expect(headers['content-type']).toBe(text);
  });

  it.each([
    'text/javascript, application/pdf',
    'text/javascript;, image/png',
    'application/json',
    'text/html',
    'image/svg+xml',
    'text/javascript2',
    'application/octet-stream',
  ])('leaves %j, which no script or style element takes under nosniff, as it is', type => {
    const headers: OutgoingHttpHeaders = { 'content-type': type };
    neutraliseActiveType(headers);
    expect(headers['content-type']).toBe(type);
  });

  it('leaves an answer without a type without one (nosniff then refuses it as script or style)', () => {
    const headers: OutgoingHttpHeaders = {};
    neutraliseActiveType(headers);
    expect(headers).toEqual({});
  });
});

describe('makeCachePrivate', () => {
  it.each<[string | string[] | undefined, string]>([
    ['public, max-age=3600', 'max-age=3600, private'],
    ['s-maxage=600, max-age=60', 'max-age=60, private'],
    ['PUBLIC, S-MAXAGE=600', 'private'],
    ['max-age=60, must-revalidate', 'max-age=60, must-revalidate, private'],
    ['no-store', 'no-store, private'],
    ['private', 'private'],
    ['private="set-cookie", public', 'private'],
    ['no-cache="a, public", public', 'no-cache="a, public", private'],
    [['public', 'max-age=5'], 'max-age=5, private'],
    ['public,,, immutable', 'immutable, private'],
    // None from the upstream: a shared cache could store a 200 with Last-Modified heuristically.
    [undefined, 'private'],
  ])('turns %j into %j', (value, expected) => {
    const headers: OutgoingHttpHeaders = {};
    // Node's type says string; a caller may still set several values.
    if (value !== undefined) Object.assign(headers, { 'cache-control': value });
    makeCachePrivate(headers);
    expect(headers['cache-control']).toBe(expected);
  });

  it('removes the Cache-Control fields aimed at CDNs, which override Cache-Control there', () => {
    const headers: OutgoingHttpHeaders = {
      'cdn-cache-control': 'max-age=600',
      'cloudflare-cdn-cache-control': 'max-age=600',
      'surrogate-control': 'max-age=600',
      etag: '"x"',
    };
    makeCachePrivate(headers);
    expect(headers).toEqual({ etag: '"x"', 'cache-control': 'private' });
  });
});

describe('filterResponseHeaders', () => {
  it("drops the headers the upstream's Connection names (RFC 9110 7.6.1), allowlisted or not", () => {
    const out = filterResponseHeaders(
      {
        connection: 'keep-alive, ETag , x-amz-meta-hop',
        etag: '"abc"',
        'x-amz-meta-hop': 'for this hop only',
        'x-amz-meta-kept': 'kept',
        'content-type': 'text/plain',
      },
      new Set(),
    );
    expect(out).toEqual({ 'x-amz-meta-kept': 'kept', 'content-type': 'text/plain' });
  });
});

it('never passes on CORS, service-worker scope, Clear-Site-Data or Refresh, even when a route lists them', () => {
  const names = ['access-control-allow-origin', 'access-control-allow-credentials', 'service-worker-allowed', 'clear-site-data', 'refresh'];
  const out = filterResponseHeaders(
    Object.fromEntries([...names.map(n => [n, 'x']), ['x-reply', 'kept']]),
    new Set([...names, 'x-reply']),
  );
  expect(out).toEqual({ 'x-reply': 'kept' });
});

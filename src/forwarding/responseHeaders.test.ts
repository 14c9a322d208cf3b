import { addSandboxPolicy } from './responseHeaders';

describe('addSandboxPolicy', () => {
  it("keeps the policies already there (Backstage's, the upstream's) and adds the sandbox beside them", () => {
    const headers = { 'content-security-policy': "img-src 'none'" };
    addSandboxPolicy(headers, "default-src 'self'");
    expect(headers['content-security-policy']).toBe("default-src 'self', img-src 'none', sandbox");
  });

  it('adds the sandbox alone when no policy is set', () => {
    const headers = {};
    addSandboxPolicy(headers, undefined);
    expect(headers).toEqual({ 'content-security-policy': 'sandbox' });
  });

  it('leaves PDFs alone, which some browsers show blank when sandboxed', () => {
    const headers = { 'content-type': 'application/pdf' };
    addSandboxPolicy(headers, "default-src 'self'");
    expect(headers).toEqual({ 'content-type': 'application/pdf' });
  });
});

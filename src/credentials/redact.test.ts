import { REDACTED, redactedExcerpt, redactSecrets } from './redact';

const SECRET = 'ext/id+with=chars&<x>';

it.each([
  ['as is', `Value '${SECRET}' at 'externalId'`],
  ['URL-encoded', `ExternalId=${encodeURIComponent(SECRET)}&Version=2011-06-15`],
  ['JSON-escaped', JSON.stringify({ external_id: SECRET })],
  ['XML-escaped', `<Message>${SECRET.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</Message>`],
  ['XML character references', `<Message>${SECRET.replace(/[<>&'"]/g, c => `&#${c.charCodeAt(0)};`)}</Message>`],
])('replaces a secret echoed %s', (_form, text) => {
  const out = redactSecrets(text, [SECRET]);
  expect(out).toContain(REDACTED);
  expect(out).not.toContain('ext/id');
  expect(out).not.toContain('ext%2Fid');
});

it('replaces the longer of two overlapping secrets whole, and ignores empty ones', () => {
  expect(redactSecrets('token=abcdef', ['abc', 'abcdef', '', undefined])).toBe(`token=${REDACTED}`);
});

it('cuts a message short only after replacing, so no start of a secret is left at the end', () => {
  const token = 'T'.repeat(50);
  const message = `${'x'.repeat(290)}${token}`;
  const cut = redactedExcerpt(message, [token], 300);
  expect(cut).not.toMatch(/T/);
  expect(cut.length).toBeLessThanOrEqual(300);
});

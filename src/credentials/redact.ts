/*
 * The one place that removes a route's secrets from text that may reach a caller or a log:
 * error messages from STS, a credentials endpoint or an identity check, which can echo what
 * they were sent (an ExternalId in a validation error, a session token in a canonical
 * request).
 */

/** What a secret is replaced with. */
export const REDACTED = '[redacted]';

/**
 * The forms a secret takes when echoed, for redacting (see {@link redactSecrets}) and for
 * masking a session token in answers (forwarding/secretMask): as sent, URL- or form-encoded
 * (either hex case, `/` encoded or not), JSON-escaped in any encoder's way, XML-escaped, and
 * as hex bytes, space-separated or not, in either case (S3's SignatureDoesNotMatch carries the canonical request as
 * `<CanonicalRequestBytes>47 45 54 0a ...`). Only whole echoes are found: a token cut short
 * by the upstream is passed on as it was cut.
 */
export function echoedForms(secret: string): string[] {
  const encoded = encodeURIComponent(secret).replace(
    /[!'()*]/g,
    c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  const hexBytes = [...Buffer.from(secret, 'utf8')].map(b => b.toString(16).padStart(2, '0'));
  // JSON encoders escape `+`, `/` and `=` (a token's only other characters) in their own
  // ways: .NET's writes `+` as `\u002B`, others `/` as `\/` or `\u002f`. Every mix, either case.
  const u = (c: string, upper: boolean) => {
    const hex = c.charCodeAt(0).toString(16).padStart(4, '0');
    return `\\u${upper ? hex.toUpperCase() : hex}`;
  };
  const jsonForms = [true, false].flatMap(upper =>
    ['+', u('+', upper)].flatMap(plus =>
      ['/', '\\/', u('/', upper)].flatMap(slash =>
        ['=', u('=', upper)].map(eq =>
          secret.replace(/[+/=]/g, c => ({ '+': plus, '/': slash, '=': eq })[c]!),
        ),
      ),
    ),
  );
  const forms = new Set([
    secret,
    encoded,
    encoded.replace(/%[0-9A-F]{2}/g, e => e.toLowerCase()),
    // Percent-encoding that leaves `/` as it is (Python's urllib.parse.quote).
    encoded.replace(/%2F/g, '/'),
    encoded.replace(/%2F/g, '/').replace(/%[0-9A-F]{2}/g, e => e.toLowerCase()),
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%20/g, '+'),
    ...jsonForms,
    JSON.stringify(secret).slice(1, -1),
    JSON.stringify(secret).slice(1, -1).replace(/\//g, '\\/'),
    secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;'),
    secret.replace(/[<>&'"]/g, c => `&#${c.charCodeAt(0)};`),
    hexBytes.join(' '),
    hexBytes.join(' ').toUpperCase(),
    hexBytes.join(''),
    hexBytes.join('').toUpperCase(),
  ]);
  return [...forms].filter(form => form.length > 0);
}

/**
 * Replaces every secret (and its encoded forms) in `text` with {@link REDACTED}. Longer
 * secrets first, so that a secret containing another is replaced whole. Empty and undefined
 * secrets are ignored.
 */
export function redactSecrets(
  text: string,
  secrets: ReadonlyArray<string | undefined>,
): string {
  const forms = secrets
    .filter((s): s is string => typeof s === 'string' && s.length > 0)
    .flatMap(echoedForms)
    .sort((a, b) => b.length - a.length);
  let out = text;
  for (const form of forms) {
    if (out.includes(form)) {
      out = out.split(form).join(REDACTED);
    }
  }
  return out;
}

/**
 * A message cut to `max` characters after its secrets are replaced: cutting first could
 * leave the start of a secret at the end, where it no longer matches.
 */
export function redactedExcerpt(
  text: string,
  secrets: ReadonlyArray<string | undefined>,
  max: number,
): string {
  return redactSecrets(text, secrets).slice(0, max);
}

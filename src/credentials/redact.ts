/*
 * The one place that removes a route's secrets from text that may reach a caller or a log:
 * error messages from STS, a credentials endpoint or an identity check, which can echo what
 * they were sent (an ExternalId in a validation error, a session token in a canonical
 * request).
 */

/** What a secret is replaced with. */
export const REDACTED = '[redacted]';

/** The forms a secret can take when echoed: as is, URL-encoded, form-encoded, JSON-, XML-escaped. */
function echoedForms(secret: string): string[] {
  const forms = new Set([
    secret,
    encodeURIComponent(secret),
    encodeURIComponent(secret).replace(/%20/g, '+'),
    JSON.stringify(secret).slice(1, -1),
    JSON.stringify(secret).slice(1, -1).replace(/\//g, '\\/'),
    secret.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;'),
    secret.replace(/[<>&'"]/g, c => `&#${c.charCodeAt(0)};`),
  ]);
  return [...forms];
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

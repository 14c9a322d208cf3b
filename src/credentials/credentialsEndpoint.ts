import { AwsCredentialIdentity } from '@smithy/types';
import { CredentialsEndpointSource } from '../config/types';
import { CredentialsFetcher } from './cachedCredentials';
import { CredentialsUnavailableError } from './errors';
import { CallerRef } from './callerIdentity';
import { SessionTag } from './sessionTags';

/** The caller a per-caller endpoint call is for, and the session it asks for. */
export interface EndpointCaller {
  caller: CallerRef;
  /** The role session name to use. */
  identity: string;
  sourceIdentity?: string;
  tags: readonly SessionTag[];
  transitiveTagKeys: readonly string[];
}

/** How long the endpoint may take to answer. */
const ENDPOINT_TIMEOUT_MS = 10_000;
/** The largest answer read; credentials are well under 8 KiB. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Credentials without an expiry are used for this long. */
const DEFAULT_LIFETIME_MS = 60 * 60 * 1000;

/**
 * How a credentials endpoint is named in messages, logs and the route check: its origin only,
 * since a token could hide in its path.
 */
export function shownEndpoint(url: string): string {
  return new URL(url).origin;
}

function callerBody(forCaller: EndpointCaller) {
  const { caller } = forCaller;
  return {
    type: caller.type,
    reference: caller.type === 'user' ? caller.ref : caller.subject,
    role_session_name: forCaller.identity,
    source_identity: forCaller.sourceIdentity ?? null,
    tags: forCaller.tags.map(t => ({ key: t.Key, value: t.Value })),
    transitive_tag_keys: [...forCaller.transitiveTagKeys],
  };
}

/** The endpoint answered more than {@link MAX_ANSWER_BYTES}. */
class AnswerTooLargeError extends Error {}

/**
 * A fetcher that POSTs `{ role_arn, external_id, region, service }` as JSON to the endpoint
 * (with `sessionPerCaller`, also `caller`: `{ type, reference, role_session_name,
 * source_identity, tags: [{ key, value }], transitive_tag_keys }`, which the endpoint is
 * trusted to apply)
 * with its configured headers, and reads credentials from the answer:
 * `{ accessKeyId, secretAccessKey, sessionToken, expiresAt }`, or the same inside
 * `credentials`, in camelCase, snake_case or PascalCase; the expiry as `expiresAt`,
 * `expires_at` or `expiration`, an ISO date or Unix seconds; one hour when absent.
 * Redirects are refused, so the headers go nowhere else. A non-2xx, slow or malformed
 * answer is a 503 that says what was wrong without repeating what the endpoint sent.
 */
export function credentialsEndpointFetcher(
  source: CredentialsEndpointSource,
  forCaller?: EndpointCaller,
): CredentialsFetcher {
  const where = shownEndpoint(source.url);
  const fail = (what: string, code?: string) =>
    new CredentialsUnavailableError(
      `The credentials endpoint ${where} ${what}`,
      undefined,
      code,
    );
  return async () => {
    let response: Response;
    let text: string;
    try {
      response = await fetch(source.url, {
        method: 'POST',
        headers: {
          ...source.headers,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify({
          role_arn: source.roleArn ?? null,
          external_id: source.externalId ?? null,
          region: source.region,
          service: source.service,
          ...(forCaller ? { caller: callerBody(forCaller) } : {}),
        }),
        redirect: 'manual',
        signal: AbortSignal.timeout(ENDPOINT_TIMEOUT_MS),
      });
      text = await readLimited(response);
    } catch (error) {
      const e = error as Error & { cause?: { code?: string } };
      let reason = `could not be reached (${e.cause?.code ?? e.message})`;
      if (e.name === 'TimeoutError') {
        reason = `did not answer within ${ENDPOINT_TIMEOUT_MS} ms`;
      } else if (e instanceof AnswerTooLargeError) {
        reason = `answered more than ${MAX_ANSWER_BYTES} bytes`;
      }
      throw fail(reason);
    }
    if (response.status < 200 || response.status > 299) {
      throw fail(`answered HTTP ${response.status}`, `Http${response.status}`);
    }
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      throw fail('did not answer JSON');
    }
    return parseCredentials(answer, fail);
  };
}

async function readLimited(response: Response): Promise<string> {
  if (!response.body) {
    return '';
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > MAX_ANSWER_BYTES) {
      throw new AnswerTooLargeError();
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `accessKeyId`, `access_key_id` and `AccessKeyId` are all `accesskeyid`. */
const normalise = (key: string) => key.replace(/[_-]/g, '').toLowerCase();

function fieldsOf(value: unknown): Map<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return undefined;
  }
  return new Map(Object.entries(value).map(([k, v]) => [normalise(k), v]));
}

function parseCredentials(
  answer: unknown,
  fail: (what: string) => Error,
): AwsCredentialIdentity {
  let fields = fieldsOf(answer);
  if (!fields) {
    throw fail('answered JSON that is not an object');
  }
  const wrapped = fieldsOf(fields.get('credentials'));
  if (wrapped) {
    fields = wrapped;
  }
  const text = (...names: string[]) => {
    for (const name of names) {
      const v = fields!.get(name);
      if (typeof v === 'string' && v !== '') return v;
    }
    return undefined;
  };
  const accessKeyId = text('accesskeyid');
  const secretAccessKey = text('secretaccesskey');
  const sessionToken = text('sessiontoken');
  const missing = [
    accessKeyId ? undefined : 'accessKeyId',
    secretAccessKey ? undefined : 'secretAccessKey',
  ].filter(Boolean);
  if (missing.length) {
    throw fail(`answered without ${missing.join(', ')}`);
  }
  // They go into headers: printable ASCII without spaces, or the request could not be sent.
  const bad = Object.entries({ accessKeyId, secretAccessKey, sessionToken })
    .filter(([, v]) => v !== undefined && !/^[\x21-\x7e]+$/.test(v))
    .map(([k]) => k);
  if (bad.length) {
    throw fail(`answered a malformed ${bad.join(', ')}`);
  }

  let expiration: Date;
  const rawExpiry = ['expiresat', 'expiration', 'expires']
    .map(name => fields!.get(name))
    .find(v => v !== undefined && v !== null);
  if (rawExpiry === undefined) {
    expiration = new Date(Date.now() + DEFAULT_LIFETIME_MS);
  } else if (
    typeof rawExpiry === 'number' ||
    (typeof rawExpiry === 'string' && /^\d+(\.\d+)?$/.test(rawExpiry))
  ) {
    if (Number(rawExpiry) > 1e11) {
      // Year 5138 in seconds: this is milliseconds, which would be read as a far future.
      throw fail('answered an expiry in milliseconds; Unix seconds are expected');
    }
    expiration = new Date(Number(rawExpiry) * 1000);
  } else if (typeof rawExpiry === 'string') {
    expiration = new Date(rawExpiry);
  } else {
    throw fail('answered an expiry that is neither an ISO date nor Unix seconds');
  }
  if (Number.isNaN(expiration.getTime())) {
    throw fail('answered an expiry that is neither an ISO date nor Unix seconds');
  }
  if (expiration.getTime() <= Date.now()) {
    throw fail(`answered credentials that expired at ${expiration.toISOString()}`);
  }
  return { accessKeyId: accessKeyId!, secretAccessKey: secretAccessKey!, sessionToken, expiration };
}

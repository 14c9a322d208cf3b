import express, { NextFunction, Request, Response } from 'express';
import { AuditorService, LoggerService } from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import { PRESIGN_PATH, RouteConfig } from '../config/types';
import { CallerAdmission } from '../access/admitCaller';
import { refuseActiveDestination } from '../access/fetchDestination';
import { auditRequest, PRESIGN_EVENT_ID } from '../audit/auditRequest';
import { upstreamPath } from '../endpoint/upstreamPath';
import { MethodNotAllowedError, PayloadTooLargeError, sendError } from '../forwarding/errors';
import { filterRequestHeaders } from '../forwarding/requestHeaders';
import { presignRequest } from '../signing/presign';
import { RouteSet } from './routeSet';
import { awsSessionOf } from './routeRuntime';

/*
 * Presigned URLs, at PRESIGN_PATH:
 * - `POST /_presign` with `{ route, path, query, method, expiresIn, headers }` answers
 *   `{ url, method, expiresAt, headers }`;
 * - `GET /_presign/<route><rest>?<query>` answers 307 to a presigned GET, for `<a href>` and
 *   `<img src>` (with the cookie on `user-cookie` routes).
 * Each passes the checks a proxied request of the presigned method would: the route's caller
 * policy and permission (with the presigned method's action), its methods, path and query
 * rules and header allowlist; and each is audited (`proxy-sigv4.presign`).
 */

/** The fields of a presign request's JSON body. */
const FIELDS = new Set(['route', 'path', 'query', 'method', 'expiresIn', 'headers']);
/** A presign request's JSON body is small: a key, a few parameters and headers. */
const JSON_LIMIT = '32kb';
/** Query parameters in a presigned URL (S3 uses at most a dozen). */
const MAX_PRESIGN_QUERY = 50;

/** What a presign asks for, read from either form. */
interface PresignAsk {
  /** Path and query after the plugin's mount point, as a proxied request would have them. */
  target: string;
  /** The route key the caller named (POST); undefined for the GET form. */
  route?: string;
  method: string;
  expiresIn?: number;
  headers: Record<string, string>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An HTTP header name (RFC 9110 token), lower-case. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/** A map of strings, or a 400 naming the field. */
function stringMap(value: unknown, field: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value) || Object.values(value).some(v => typeof v !== 'string')) {
    throw new InputError(`${field} must be an object of string values`);
  }
  return value as Record<string, string>;
}

/**
 * Header names lower-cased, as Node gives a proxied request's: the permission check and the
 * allowlist read them so (`X-Amz-Copy-Source` must count as `x-amz-copy-source`). Two names
 * that differ only in case are a 400.
 */
function lowerCaseHeaders(given: Record<string, string>): Record<string, string> {
  // No prototype: a header named __proto__ is refused as unforwarded, never lost.
  const lower: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(given)) {
    const key = name.toLowerCase();
    // What Node would refuse to send: a URL signed for it could never be used.
    if (!HEADER_NAME.test(key)) {
      throw new InputError(`${JSON.stringify(name)} is not a header name`);
    }
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) {
      throw new InputError(`Header ${key} has a control character`);
    }
    if (Object.hasOwn(lower, key)) {
      throw new InputError(`Header ${key} is given twice`);
    }
    lower[key] = value;
  }
  return lower;
}

/** Reads the POST form's JSON body (see the module comment). */
function readAsk(body: unknown): PresignAsk {
  if (!isPlainObject(body)) {
    throw new InputError('The body must be a JSON object: { "route", "path", "method", "query", "expiresIn", "headers" }');
  }
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) {
      throw new InputError(`Unknown field ${JSON.stringify(key)}; known fields are ${[...FIELDS].join(', ')}`);
    }
  }
  const { route, path = '', method = 'GET', expiresIn } = body;
  if (typeof route !== 'string' || !route.startsWith('/')) {
    throw new InputError('route must be a route key such as "/reports"');
  }
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) {
    throw new InputError('path must be a string starting with "/", written as it follows the route in a proxied URL (percent-encoded)');
  }
  if (/[?#]/.test(path)) {
    throw new InputError('path must not hold "?" or "#": give query parameters in query');
  }
  if (typeof method !== 'string') {
    throw new InputError('method must be a string such as "GET"');
  }
  if (expiresIn !== undefined && (typeof expiresIn !== 'number' || !Number.isInteger(expiresIn) || expiresIn < 1)) {
    throw new InputError('expiresIn must be a whole number of seconds, at least 1');
  }
  const query = stringMap(body.query, 'query');
  const rawQuery = Object.entries(query)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
  return {
    target: `${route.replace(/\/+$/, '')}${path}${rawQuery ? `?${rawQuery}` : ''}`,
    route: route.replace(/\/+$/, '') || '/',
    method: method.toUpperCase(),
    expiresIn: expiresIn as number | undefined,
    headers: lowerCaseHeaders(stringMap(body.headers, 'headers')),
  };
}

/**
 * The headers a presigned request must carry, as the route would forward them: a header the
 * route would drop is a 400 (the URL would otherwise be signed for something else than asked).
 */
function presignedHeaders(given: Record<string, string>, route: RouteConfig): Record<string, string> {
  const kept = filterRequestHeaders(given, route.allowedHeaders);
  const dropped = Object.keys(given).filter(name => !Object.hasOwn(kept, name));
  if (dropped.length > 0) {
    throw new InputError(
      `Header ${dropped.join(', ')} is not forwarded on route ${route.route || '/'}, so it cannot be signed into a presigned URL`,
    );
  }
  return kept;
}

/**
 * A presigned PUT carries its length, signed: S3 then takes exactly that many bytes, so the
 * URL cannot upload more than the route itself accepts (its `maxUploadSize`, or `maxBodySize`
 * if larger). Without it, whoever holds the URL could upload up to S3's 5 GiB.
 */
function requireUploadLength(headers: Record<string, string>, route: RouteConfig): void {
  const declared = headers['content-length'];
  const limit = Math.max(route.maxBodySize, route.maxUploadSize);
  if (declared === undefined || !/^\d{1,16}$/.test(declared)) {
    throw new InputError(
      'A presigned PUT needs headers["content-length"], the exact size of the upload: it is signed into the URL (a browser sends it by itself)',
    );
  }
  if (Number(declared) > limit) {
    throw new PayloadTooLargeError(
      `Upload of ${declared} bytes is larger than route ${route.route || '/'} accepts (${limit} bytes)`,
    );
  }
}

/** The presign handler, mounted at {@link PRESIGN_PATH} before the routes. */
export function presignHandler(options: {
  admission: CallerAdmission;
  /** The routes in force now. */
  routes: () => RouteSet;
  logger: LoggerService;
  auditor?: AuditorService;
}) {
  const { admission, routes, logger, auditor } = options;
  const json = express.json({ limit: JSON_LIMIT, strict: true, type: () => true });

  const presign = async (req: Request, res: Response, ask: PresignAsk) => {
    const audited = auditor && auditRequest(auditor, logger, req, res, PRESIGN_EVENT_ID);
    try {
      const { table, runtimes } = routes();
      const match = table.match(ask.target);
      if (!match) {
        throw new NotFoundError(`No proxysigv4 route matches ${ask.route ?? ask.target.split('?')[0]}`);
      }
      const { route, rest, rawQuery } = match;
      const label = route.route || '/';
      if (audited) audited.route = label;
      if (ask.route !== undefined && ask.route !== label) {
        // A longer route owns the path, with its own policy: never presign it as this one's.
        throw new InputError(`The path belongs to route ${label}, not ${ask.route}; ask for it there`);
      }
      const caller = await admission.admit(req, route, rawQuery, { method: ask.method, headers: ask.headers });
      if (audited) audited.caller = caller;
      if (!route.presign) {
        throw new NotAllowedError(`Route ${label} does not hand out presigned URLs (its presign setting is off)`);
      }
      if (!route.presign.methods.has(ask.method)) {
        throw new NotAllowedError(
          `Route ${label} presigns ${[...route.presign.methods].join(', ')}, not ${ask.method}`,
        );
      }
      const expiresIn = ask.expiresIn ?? route.presign.maxExpiresIn;
      if (expiresIn > route.presign.maxExpiresIn) {
        throw new InputError(`expiresIn is at most ${route.presign.maxExpiresIn} seconds on route ${label}`);
      }
      if (rawQuery.split('&').length > MAX_PRESIGN_QUERY) {
        throw new InputError(`A presigned URL carries at most ${MAX_PRESIGN_QUERY} query parameters`);
      }
      const upstream = upstreamPath(route, rest, rawQuery);
      const headers = presignedHeaders(ask.headers, route);
      if (ask.method === 'PUT') requireUploadLength(headers, route);
      const runtime = runtimes.get(route)!;
      const session = runtime.perCaller && (await runtime.perCaller.sessionFor(caller));
      const presigned = await presignRequest(
        route,
        session ? session.cache.get : runtime.credentials.get,
        { method: ask.method, protocol: route.protocol, host: route.hostHeader, path: upstream.path, query: upstream.query, headers },
        expiresIn,
      );
      if (audited) {
        audited.presigned = { method: ask.method, path: upstream.path, expiresAt: presigned.expiresAt.toISOString() };
        if (session) audited.awsSession = awsSessionOf(session, route);
      }
      // A bearer token until it expires: kept out of caches and of the next page's Referer.
      res.setHeader('cache-control', 'no-store');
      res.setHeader('referrer-policy', 'no-referrer');
      return { presigned, route: label };
    } catch (error) {
      if (audited) audited.error = error as Error;
      throw error;
    }
  };

  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      if (req.path === '/') {
        if (req.method !== 'POST') {
          throw new MethodNotAllowedError(`Method ${req.method} is not allowed on ${PRESIGN_PATH}; POST a JSON body`, ['POST']);
        }
        await new Promise<void>((resolve, reject) => json(req, res, e => (e ? reject(new InputError(`The body must be JSON: ${e.message}`)) : resolve())));
        const ask = readAsk(req.body);
        const { presigned } = await presign(req, res, ask);
        res.json({
          url: presigned.url,
          method: ask.method,
          expiresAt: presigned.expiresAt.toISOString(),
          headers: presigned.headers,
        });
        return;
      }
      if (req.method !== 'GET') {
        throw new MethodNotAllowedError(
          `Method ${req.method} is not allowed on ${PRESIGN_PATH}/<route>/...; it redirects GETs`,
          ['GET'],
        );
      }
      // Never a script, style or worker for Backstage's own pages, even from elsewhere.
      refuseActiveDestination(req);
      const { presigned } = await presign(req, res, { target: req.url, method: 'GET', headers: {} });
      // The URL as signed, byte for byte (res.redirect would re-encode it), and no body.
      res.statusCode = 307;
      res.setHeader('location', presigned.url);
      res.end();
    } catch (error) {
      if (!res.headersSent) sendError(req, res, error);
      else next(error);
    }
  };
}

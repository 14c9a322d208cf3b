import { canonicalPath, canonicalQuery } from './canonical';
import { RouteConfig } from '../config/types';

/** The upstream path and query of one request, in the one form that is both signed and sent. */
export interface UpstreamPath {
  /** Canonical path (target base path plus the request's rest). */
  path: string;
  /** Decoded query parameters for the signer. */
  query: Record<string, string | string[]>;
  /** Path and query as written on the wire. */
  wire: string;
}

/**
 * Joins the route's target path and the request's rest without adding or removing a
 * trailing slash: target `/prod` + `` is `/prod`, + `/` is `/prod/`, + `/a` is `/prod/a`.
 * Throws a 400 for a path or query that cannot be forwarded (see endpoint/canonical: dot
 * segments, malformed encodings, too many query parameters, a caller's own SigV4 or SigV2
 * authentication parameters). Linear in the size of the path and query (the query's
 * sort aside).
 */
export function upstreamPath(
  route: RouteConfig,
  rest: string,
  rawQuery: string,
): UpstreamPath {
  const restPath = canonicalPath(rest, route.s3);
  const path =
    restPath === '' ? route.basePath : route.basePath.replace(/\/$/, '') + restPath;
  const { params, wire } = canonicalQuery(rawQuery, route.s3);
  return { path, query: params, wire: wire ? `${path}?${wire}` : path };
}

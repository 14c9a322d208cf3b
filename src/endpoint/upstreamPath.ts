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
 */
export function upstreamPath(
  route: RouteConfig,
  rest: string,
  rawQuery: string,
): UpstreamPath {
  const restPath = canonicalPath(rest, route.s3);
  const path =
    restPath === '' ? route.basePath : route.basePath.replace(/\/$/, '') + restPath;
  const { params, wire } = canonicalQuery(rawQuery);
  return { path, query: params, wire: wire ? `${path}?${wire}` : path };
}

import { RouteConfig } from '../config/types';

/** A request path split into the route it matched and the rest. */
export interface RouteMatch {
  route: RouteConfig;
  /** What follows the route prefix, raw as received ('' or starting with '/'). */
  rest: string;
  /** The raw query string, without '?' ('' when none). */
  rawQuery: string;
}

/**
 * Splits a request target into path and query and finds its route: the longest route
 * prefix wins, and a route matches only at a segment boundary (`/s3` does not catch `/s3x`).
 * An absolute-form target (`http://host/...`) is reduced to its path: the upstream host
 * always comes from the route, never from the request.
 */
export class RouteTable {
  private readonly routes: RouteConfig[];

  constructor(routes: RouteConfig[]) {
    this.routes = [...routes].sort((a, b) => b.route.length - a.route.length);
  }

  match(requestTarget: string): RouteMatch | undefined {
    let target = requestTarget;
    const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
    if (absolute) {
      target = target.slice(absolute[0].length) || '/';
    }
    const hash = target.indexOf('#');
    if (hash !== -1) {
      target = target.slice(0, hash);
    }
    const q = target.indexOf('?');
    const path = q === -1 ? target : target.slice(0, q);
    const rawQuery = q === -1 ? '' : target.slice(q + 1);
    for (const route of this.routes) {
      if (path === route.route || path.startsWith(`${route.route}/`)) {
        return { route, rest: path.slice(route.route.length), rawQuery };
      }
    }
    return undefined;
  }
}

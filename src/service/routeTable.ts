import { RouteConfig } from '../config/types';
import { BadRequestPathError, strictDecode } from '../endpoint/canonical';

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
 *
 * Routes are matched on the decoded path, with empty segments ignored, so that
 * `/api/%61dmin` or `/api//admin` reach the route `/api/admin` (and its credentials
 * policy), never `/api` with a rest that the upstream reads as `/admin`. An encoded slash
 * cannot straddle a route boundary. An absolute-form target (`http://host/...`) is reduced
 * to its path: the upstream host always comes from the route, never from the request.
 */
export class RouteTable {
  private readonly routes: { route: RouteConfig; segments: string[] }[];

  constructor(routes: RouteConfig[]) {
    this.routes = routes
      .map(route => ({ route, segments: route.route.split('/').filter(Boolean) }))
      .sort((a, b) => b.segments.length - a.segments.length);
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

    // Decoded pieces of the path, each with the raw segment it came from and whether it
    // is the last piece of that segment.
    const raw = path.split('/');
    const pieces: { text: string; rawIndex: number; endsSegment: boolean }[] = [];
    raw.forEach((segment, rawIndex) => {
      const parts = strictDecode(segment, 'path').split('/');
      parts.forEach((text, i) => {
        if (text !== '') {
          pieces.push({ text, rawIndex, endsSegment: i === parts.length - 1 });
        }
      });
    });

    for (const { route, segments } of this.routes) {
      if (segments.some((s, i) => pieces[i]?.text !== s)) {
        continue;
      }
      if (segments.length === 0) {
        return { route, rest: path, rawQuery };
      }
      const last = pieces[segments.length - 1];
      if (!last.endsSegment) {
        throw new BadRequestPathError(
          'An encoded slash (%2F) may not join the route part of the path to the rest',
        );
      }
      const rest = raw.slice(last.rawIndex + 1);
      return { route, rest: rest.length ? `/${rest.join('/')}` : '', rawQuery };
    }
    return undefined;
  }
}

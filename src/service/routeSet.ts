import { RouteConfig } from '../config/types';
import { RouteTable } from './routeTable';
import { RouteRuntime } from './routeRuntime';

/** The routes in force: replaced whole, at once, when the configuration changes. */
export interface RouteSet {
  routes: RouteConfig[];
  table: RouteTable;
  runtimes: Map<RouteConfig, RouteRuntime>;
}

/** What a new route set changed against the one before it. */
export interface RouteSetChange {
  set: RouteSet;
  added: RouteConfig[];
  removed: RouteConfig[];
  changed: RouteConfig[];
  /** Runtimes of the set before that the new one does not keep. */
  retired: RouteRuntime[];
}

/** A route's configuration as one comparable string: sets as sorted lists. */
export function routeFingerprint(route: RouteConfig): string {
  return JSON.stringify(route, (_key, value) =>
    value instanceof Set ? [...value].sort() : value,
  );
}

/**
 * The route set for `routes`. A route whose configuration is the same as before keeps its
 * runtime (its connection pool, credentials, caller sessions) and its config object (which
 * the route check's cache is keyed by); an added or changed route gets a new runtime.
 */
export function buildRouteSet(
  routes: RouteConfig[],
  previous: RouteSet | undefined,
  makeRuntime: (route: RouteConfig) => RouteRuntime,
): RouteSetChange {
  const before = new Map(
    (previous?.routes ?? []).map(route => [route.route, { route, fingerprint: routeFingerprint(route) }]),
  );
  const kept = new Set<RouteRuntime>();
  const runtimes = new Map<RouteConfig, RouteRuntime>();
  const added: RouteConfig[] = [];
  const changed: RouteConfig[] = [];
  const inForce = routes.map(route => {
    const old = before.get(route.route);
    if (old && old.fingerprint === routeFingerprint(route)) {
      const runtime = previous!.runtimes.get(old.route)!;
      kept.add(runtime);
      runtimes.set(old.route, runtime);
      return old.route;
    }
    (old ? changed : added).push(route);
    runtimes.set(route, makeRuntime(route));
    return route;
  });
  const keys = new Set(routes.map(r => r.route));
  return {
    set: { routes: inForce, table: new RouteTable(inForce), runtimes },
    added,
    changed,
    removed: (previous?.routes ?? []).filter(r => !keys.has(r.route)),
    retired: [...(previous?.runtimes.values() ?? [])].filter(r => !kept.has(r)),
  };
}

import { createExtensionPoint } from '@backstage/backend-plugin-api';
import { JsonValue } from '@backstage/types';

/**
 * Lets a backend module of the `proxy-sigv4` plugin add routes in code.
 *
 * @public
 */
export interface ProxySigV4RoutesExtensionPoint {
  /**
   * Adds routes, each in the shape of a `proxysigv4` entry of app-config: a target URL, or
   * an object with `target` and the other route fields. They are validated with the
   * configured routes, at start and at every reload, exactly as if they were configured; a
   * route key that app-config or another module already has is an error. Call it from the
   * module's `init`; later calls throw.
   */
  addRoutes(routes: Record<string, JsonValue>): void;
}

/**
 * The extension point through which a backend module adds `proxysigv4` routes in code.
 * Its id is what Backstage matches: a future `-node` package can declare the same id, and
 * modules written against either keep working.
 *
 * @public
 */
export const proxySigV4RoutesExtensionPoint =
  createExtensionPoint<ProxySigV4RoutesExtensionPoint>({ id: 'proxy-sigv4.routes' });

/**
 * Collects the routes backend modules add, open until the plugin's init takes them. A key
 * added twice is refused: the second module's init fails with the error, and Backstage names
 * that module in its start-up failure.
 */
export class ModuleRoutes {
  // No prototype: a key such as __proto__ is a key like any other (and refused: no leading /).
  private readonly routes: Record<string, JsonValue> = Object.create(null);
  private locked = false;

  /** The extension point given to each module. */
  extensionPoint(): ProxySigV4RoutesExtensionPoint {
    return {
      addRoutes: added => {
        if (this.locked) {
          throw new Error(
            'proxysigv4 routes can only be added while the backend starts, from a module init',
          );
        }
        // A copy, taken now: what the module does with its objects later changes nothing.
        const entries = Object.entries(JSON.parse(JSON.stringify(added ?? {})) as Record<string, JsonValue>);
        // All or nothing: every key is checked before any is added.
        for (const [key] of entries) {
          if (!key.startsWith('/')) {
            throw new Error(`proxysigv4 route '${key}' (added by a backend module): route keys must begin with '/'`);
          }
          if (Object.prototype.hasOwnProperty.call(this.routes, key)) {
            throw new Error(
              `proxysigv4 route '${key}' is added by two backend modules; each route key may be added once`,
            );
          }
        }
        for (const [key, value] of entries) this.routes[key] = value;
      },
    };
  }

  /** The routes added, from now on fixed: later calls to addRoutes throw. */
  take(): Readonly<Record<string, JsonValue>> {
    this.locked = true;
    return this.routes;
  }
}

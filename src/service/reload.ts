import { LoggerService } from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import { JsonValue } from '@backstage/types';
import { RouteConfig } from '../config/types';
import { readProxyConfig } from '../config/readRoutes';
import { CredentialsResolver } from '../credentials/CredentialsResolver';
import { buildRouteSet, RouteSet, RouteSetChange } from './routeSet';
import { retire, RouteRuntime } from './routeRuntime';
import { logRouteChecks } from './routeCheck';

/** What {@link LiveRoutes} needs from the router. */
export interface LiveRoutesOptions {
  config: Config;
  logger: LoggerService;
  resolver: CredentialsResolver;
  /** Routes added in code by backend modules: merged with the configured ones every time. */
  moduleRoutes?: Readonly<Record<string, JsonValue>>;
  /** Builds an added or changed route's runtime. */
  makeRuntime: (route: RouteConfig) => RouteRuntime;
  /** Refuses routes the router cannot serve (a permission without a permissions service). */
  validate: (routes: RouteConfig[]) => void;
  /** Told of each swap, after it (to log the routes and register their auth policies). */
  onChange?: (change: RouteSetChange) => void;
}

/**
 * A changed section is applied once it has stayed the same this long: a file written in
 * several steps can be read half-written (a route's target without its `permission` line).
 */
export const SETTLE_MS = 300;
/**
 * A section that disappears is believed only if it is still gone this much later: an editor
 * that truncates a file before writing it lets Backstage read it empty for a moment.
 */
export const VANISHED_SECTION_CONFIRM_MS = 1000;

/** The `proxysigv4` section as a string that is equal exactly when the section is. */
function sectionText(config: Config): string {
  return JSON.stringify(config.getOptional('proxysigv4') ?? null);
}

/** The non-empty parts of a change, as the reload's log line says them. */
function describeChange(change: RouteSetChange): string {
  const names = (routes: RouteConfig[]) => routes.map(r => r.route || '/').join(', ');
  return [
    change.added.length && `added ${names(change.added)}`,
    change.removed.length && `removed ${names(change.removed)}`,
    change.changed.length && `changed ${names(change.changed)}`,
  ]
    .filter(Boolean)
    .join('; ');
}

/**
 * The routes in force, following app-config. At start the section is read, validated and
 * built (an invalid one stops the start). Then, whenever the `proxysigv4` section changes,
 * the new section is read and validated whole, as at start, and the new route set is swapped
 * in at once: a request uses the set that was in force when it arrived, to its end. Routes
 * that did not change keep their runtime (connections, credentials); changed and removed
 * ones drain and close, and the credential sources no route uses any more are let go.
 * An invalid change leaves the routes as they were and is logged once.
 */
export class LiveRoutes {
  current: RouteSet;
  private checkCredentialsOnStart: boolean;
  private text: string;
  private subscription?: { unsubscribe(): void };
  /** A changed section waiting to settle. */
  private pending?: { text: string; timer: NodeJS.Timeout };

  constructor(private readonly options: LiveRoutesOptions) {
    const { routes, checkCredentialsOnStart } = readProxyConfig(options.config, options.moduleRoutes);
    options.validate(routes);
    this.current = buildRouteSet(routes, undefined, options.makeRuntime).set;
    this.checkCredentialsOnStart = checkCredentialsOnStart;
    this.text = sectionText(options.config);
  }

  /** Checks every route's credentials, unless `checkCredentialsOnStart` is false. */
  async checkCredentials(routes: RouteConfig[] = this.current.routes): Promise<void> {
    if (!this.checkCredentialsOnStart || routes.length === 0) return;
    try {
      await logRouteChecks(routes, this.options.resolver, this.options.logger);
    } catch (error) {
      this.options.logger.warn(`proxysigv4: could not check the routes' credentials: ${error}`);
    }
  }

  /** Follows the configuration from now on (where it can change: `config.subscribe`). */
  watch(): void {
    if (this.subscription) return;
    this.subscription = this.options.config.subscribe?.(() => this.changed());
    // A change between the start's read and now is not missed.
    this.changed();
  }

  /** Stops following the configuration, and closes every route's connections. */
  close(): void {
    this.subscription?.unsubscribe();
    clearTimeout(this.pending?.timer);
    this.pending = undefined;
    for (const runtime of this.current.runtimes.values()) retire(runtime);
  }

  /** The configuration changed: waits for the section to settle, then applies it. */
  private changed(): void {
    const text = sectionText(this.options.config);
    if (text === this.pending?.text) return; // already waiting for this one
    clearTimeout(this.pending?.timer);
    this.pending = undefined;
    if (text === this.text) return; // another section changed, or this one came back
    const vanished = text === 'null' && this.current.routes.length > 0;
    const timer = setTimeout(
      () => {
        this.pending = undefined;
        if (sectionText(this.options.config) === text) this.apply(text);
        else this.changed();
      },
      vanished ? VANISHED_SECTION_CONFIRM_MS : SETTLE_MS,
    );
    timer.unref();
    this.pending = { text, timer };
  }

  private apply(text: string): void {
    const { config, logger, resolver } = this.options;
    // Remembered even when invalid: the same invalid section is reported once.
    this.text = text;
    let change: RouteSetChange;
    try {
      const { routes, checkCredentialsOnStart } = readProxyConfig(config, this.options.moduleRoutes);
      this.options.validate(routes);
      change = buildRouteSet(routes, this.current, this.options.makeRuntime);
      this.checkCredentialsOnStart = checkCredentialsOnStart;
    } catch (error) {
      logger.error(
        `proxysigv4: the new proxysigv4 configuration is invalid; the routes stay as they were: ${(error as Error)?.message ?? error}`,
      );
      return;
    }
    this.current = change.set;
    const described = describeChange(change);
    if (described) logger.info(`proxysigv4: routes reloaded: ${described}`);
    try {
      // This runs from a timer: nothing here may throw out of it (that would end the process).
      for (const runtime of change.retired) retire(runtime);
      resolver.retain(change.set.routes.map(r => r.credentialSource));
      this.options.onChange?.(change);
    } catch (error) {
      logger.error(`proxysigv4: after the routes were reloaded: ${(error as Error)?.message ?? error}`);
    }
    void this.checkCredentials([...change.added, ...change.changed]);
  }
}

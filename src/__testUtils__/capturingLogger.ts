/*
 * A logger service for tests that keeps every entry, with the fields of the child loggers it
 * came through, so that tests can read what the plugin and Backstage's auditor (which logs
 * through the plugin's logger) wrote.
 */
import {
  coreServices,
  createServiceFactory,
  LoggerService,
  ServiceFactory,
} from '@backstage/backend-plugin-api';
import { JsonObject } from '@backstage/types';

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  /** The child loggers' fields and the entry's own, merged. */
  fields: Record<string, unknown>;
  error?: Error;
}

export interface CapturingLogger {
  entries: LogEntry[];
  factory: ServiceFactory<LoggerService, 'plugin', 'singleton'>;
}

export function capturingLogger(): CapturingLogger {
  const entries: LogEntry[] = [];
  const make = (fields: Record<string, unknown>): LoggerService => {
    const log =
      (level: LogEntry['level']) => (message: string, meta?: Error | JsonObject) => {
        if (meta instanceof Error) {
          entries.push({ level, message, fields, error: meta });
        } else {
          entries.push({ level, message, fields: { ...fields, ...meta } });
        }
      };
    return {
      debug: log('debug'),
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      child: meta => make({ ...fields, ...meta }),
    };
  };
  const logger = make({});
  return {
    entries,
    factory: createServiceFactory({
      service: coreServices.logger,
      deps: {},
      factory: () => logger,
    }),
  };
}

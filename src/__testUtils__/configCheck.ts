/*
 * The configuration schema as `backstage-cli config:check --strict` applies it to an app that
 * depends on this package, for the tests that check config.d.ts and the docs' examples.
 */
import path from 'node:path';
import { loadConfigSchema } from '@backstage/config-loader';
import { ROOT } from './docPages';

export type ConfigSchema = Awaited<ReturnType<typeof loadConfigSchema>>;

/** This package's schema (and its dependencies'), loaded as config:check --strict does. */
export function loadStrictConfigSchema(): Promise<ConfigSchema> {
  return loadConfigSchema({
    dependencies: [],
    packagePaths: [path.join(ROOT, 'package.json')],
    noUndeclaredProperties: true, // what --strict adds
  });
}

/** The rest of an app-config that the other packages' schemas require. */
export const APP_SECTIONS = {
  app: { baseUrl: 'http://localhost:3000' },
  backend: {
    baseUrl: 'http://localhost:7007',
    listen: { port: 7007 },
    database: { client: 'better-sqlite3', connection: ':memory:' },
  },
};

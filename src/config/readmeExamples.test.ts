/*
 * Every YAML example in README.md and the docs/ pages that configures `proxysigv4` must load
 * with the plugin's own reader, so that a newcomer who copies one gets a backend that starts.
 *
 * - A block preceded by the line `<!-- readme-example: invalid -->` is shown as a wrong
 *   example: it must be refused.
 * - Every sentence of the form "The route `/x` signs for service `s` in region `r`" after a
 *   block, on any page, is checked against what the reader derives for that route; on the
 *   worked examples page (docs/examples.md) every route of every block must have one.
 * - `${VAR}` placeholders are replaced with a dummy value; a block that names an
 *   `accountId` but has no `aws:` section gets an `aws.accounts` entry for it (the
 *   examples show the `proxysigv4` section only).
 */
import { parse } from 'yaml';
import { ConfigReader } from '@backstage/config';
import { JsonObject } from '@backstage/types';
import { ProxyConfigError, readProxyConfig } from './readRoutes';
import { APP_SECTIONS, ConfigSchema, loadStrictConfigSchema } from '../__testUtils__/configCheck';
import { DOC_PAGES, readPage } from '../__testUtils__/docPages';


/** The worked examples page: every route there states its service and region. */
const WORKED_EXAMPLES = 'docs/examples.md';

/**
 * At least this many examples on these pages, so that moving or renaming a page, or a change
 * to how blocks are found, fails here instead of leaving the checks below with nothing to
 * check. Lower a number only when the examples really went away.
 */
const MINIMUM_EXAMPLES: Record<string, number> = {
  'README.md': 2,
  'docs/configuration.md': 1,
  'docs/credentials.md': 1,
  'docs/examples.md': 5,
  'docs/migration-from-segment.md': 2,
  'docs/security.md': 3,
  'docs/troubleshooting.md': 1,
};

interface Claim {
  route: string;
  service: string;
  region: string;
}

interface Example {
  /** The page, as a path from the repository's root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  yaml: string;
  invalid: boolean;
  claims: Claim[];
}

const CLAIM = /[Tt]he route `([^`]+)` signs for service `([^`]+)` in region `([^`]+)`/g;

/** The ```yaml blocks of one page that contain `proxysigv4:`, with their claims. */
function readmeExamples(text: string, file: string): Example[] {
  const lines = text.split('\n');
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```yaml\s*$/.test(lines[i])) {
      if (/^```/.test(lines[i])) {
        // Skip other fenced blocks whole, so that a yaml fence shown inside one is not a block.
        const close = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
        i = close === -1 ? lines.length : close;
      }
      continue;
    }
    const close = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (close === -1) {
      throw new Error(`${file} line ${i + 1}: unclosed yaml block`);
    }
    const yaml = lines.slice(i + 1, close).join('\n');
    // Claims: the prose after this block, up to the next fenced block or heading.
    let end = close + 1;
    while (end < lines.length && !/^(```|#)/.test(lines[end])) end++;
    const prose = lines.slice(close + 1, end).join(' ');
    const claims = [...prose.matchAll(CLAIM)].map(m => ({
      route: m[1],
      service: m[2],
      region: m[3],
    }));
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    const invalid = before >= 0 && lines[before].trim() === '<!-- readme-example: invalid -->';
    if (/^proxysigv4:/m.test(yaml)) {
      examples.push({ file, line: i + 1, yaml, invalid, claims });
    }
    i = close;
  }
  return examples;
}

/** The root config for a block: placeholders filled, and the accounts its routes name. */
function configOf(example: Example, unset?: 'lax'): JsonObject {
  // `lax`: what `config:check --lax` makes of unset variables (x).
  const filled = example.yaml.replace(/\$\{(\w+)\}/g, (_m, name) =>
    unset === 'lax' ? 'x' : `dummy-${name.toLowerCase()}`,
  );
  const root = parse(filled) as JsonObject;
  if (root.aws === undefined) {
    const section = root.proxysigv4 as JsonObject;
    const accountIds = new Set<string>();
    for (const value of Object.values(section ?? {})) {
      const accountId = (value as JsonObject | null)?.accountId;
      if (typeof value === 'object' && typeof accountId === 'string') {
        accountIds.add(accountId);
      }
    }
    if (accountIds.size > 0) {
      root.aws = { accounts: [...accountIds].map(accountId => ({ accountId })) };
    }
  }
  return root;
}

const examples = DOC_PAGES.flatMap(file => readmeExamples(readPage(file), file));

/** `docs/x.md:12`, for test names and failure messages. */
const where = (example: Example) => `${example.file}:${example.line}`;

describe('configuration examples in README.md and docs/', () => {
  // The schema `backstage-cli config:check --strict` applies (see configSchema.test.ts).
  let schema: ConfigSchema;
  beforeAll(async () => {
    schema = await loadStrictConfigSchema();
  }, 120_000);

  it('finds the examples on every page that has them', () => {
    const tooFew = Object.entries(MINIMUM_EXAMPLES).flatMap(([file, minimum]) => {
      const found = examples.filter(e => e.file === file).length;
      return found < minimum ? [`${file}: ${found} examples found, at least ${minimum} expected`] : [];
    });
    expect(tooFew).toEqual([]);
    expect(examples.length).toBeGreaterThanOrEqual(15);
  });

  it.each(examples.filter(e => !e.invalid).map(e => [where(e), e] as const))(
    'the block at %s loads',
    (_where, example) => {
      const { routes } = readProxyConfig(new ConfigReader(configOf(example)));
      expect(routes.length).toBeGreaterThan(0);
      for (const claim of example.claims) {
        const route = routes.find(r => r.route === claim.route);
        expect([where(example), route && { route: route.route, service: route.service, region: route.region }]).toEqual([
          where(example),
          claim,
        ]);
      }
    },
  );

  it.each(examples.filter(e => !e.invalid).map(e => [where(e), e] as const))(
    'the block at %s passes config:check --strict, with and without --lax',
    (_where, example) => {
      const root = configOf(example);
      const lax = configOf(example, 'lax');
      expect(() => schema.process([{ context: where(example), data: { ...APP_SECTIONS, ...root } }])).not.toThrow();
      expect(() => schema.process([{ context: where(example), data: { ...APP_SECTIONS, ...lax } }])).not.toThrow();
    },
  );

  // The docs show at least one wrong example (migration-from-segment.md, Field by field); jest
  // needs a non-empty table.
  it.each(examples.filter(e => e.invalid).map(e => [where(e), e] as const))(
    'the block at %s, shown as wrong, is refused',
    (_where, example) => {
      // The block's own comment gives the start of the error it shows, e.g.
      // `# proxysigv4['/internal-api'].service: cannot be derived from host ...`.
      const shown = /^\s*# (proxysigv4\[.*?)(?:\.\.\.|…)?\s*$/m.exec(example.yaml)?.[1];
      expect([where(example), shown !== undefined]).toEqual([where(example), true]);
      expect(() => readProxyConfig(new ConfigReader(configOf(example)))).toThrow(ProxyConfigError);
      expect(() => readProxyConfig(new ConfigReader(configOf(example)))).toThrow(
        shown!.replace(/[;,]\s*$/, ''),
      );
    },
  );

  it('states service and region for every route of every worked example', () => {
    const worked = examples.filter(e => e.file === WORKED_EXAMPLES && !e.invalid);
    expect(worked.length).toBeGreaterThanOrEqual(MINIMUM_EXAMPLES[WORKED_EXAMPLES]);
    for (const example of worked) {
      const { routes } = readProxyConfig(new ConfigReader(configOf(example)));
      const claimed = new Set(example.claims.map(c => c.route));
      expect([where(example), routes.map(r => r.route).filter(r => !claimed.has(r))]).toEqual([where(example), []]);
    }
  });
});

describe('readmeExamples', () => {
  const text = [
    '## Worked examples',
    '<!-- readme-example: invalid -->',
    '',
    '```yaml',
    'proxysigv4:',
    "  '/x': https://x.example.com",
    '```',
    '',
    'The route `/x` signs for service `s3` in region `eu-west-1`.',
    '```yaml',
    'other: 1',
    '```',
  ].join('\n');

  it('reads the page, the invalid marker and claims, and skips blocks without proxysigv4', () => {
    expect(readmeExamples(text, 'docs/x.md')).toEqual([
      {
        file: 'docs/x.md',
        line: 4,
        yaml: "proxysigv4:\n  '/x': https://x.example.com",
        invalid: true,
        claims: [{ route: '/x', service: 's3', region: 'eu-west-1' }],
      },
    ]);
  });
});

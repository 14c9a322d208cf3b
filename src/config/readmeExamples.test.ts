/*
 * Every YAML example in README.md that configures `proxysigv4` must load with the plugin's
 * own reader, so that a newcomer who copies one gets a backend that starts.
 *
 * - A block preceded by the line `<!-- readme-example: invalid -->` is shown as a wrong
 *   example: it must be refused.
 * - In the "Worked examples" section, every sentence of the form
 *   "The route `/x` signs for service `s` in region `r`" after a block is checked against
 *   what the reader derives for that route.
 * - `${VAR}` placeholders are replaced with a dummy value; a block that names an
 *   `accountId` but has no `aws:` section gets an `aws.accounts` entry for it (the
 *   examples show the `proxysigv4` section only).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ConfigReader } from '@backstage/config';
import { JsonObject } from '@backstage/types';
import { ProxyConfigError, readProxyConfig } from './readRoutes';

const README = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');

interface Claim {
  route: string;
  service: string;
  region: string;
}

interface Example {
  /** 1-based line of the opening fence. */
  line: number;
  section: string;
  yaml: string;
  invalid: boolean;
  claims: Claim[];
}

const CLAIM = /[Tt]he route `([^`]+)` signs for service `([^`]+)` in region `([^`]+)`/g;

/** The ```yaml blocks that contain `proxysigv4:`, with their section and claims. */
function readmeExamples(text: string): Example[] {
  const lines = text.split('\n');
  const examples: Example[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.*)/.exec(lines[i]);
    if (heading) {
      section = heading[1].trim();
      continue;
    }
    if (!/^```yaml\s*$/.test(lines[i])) {
      if (/^```/.test(lines[i])) {
        // Skip other fenced blocks whole, so that a '## ' inside one is not a heading.
        const close = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
        i = close === -1 ? lines.length : close;
      }
      continue;
    }
    const close = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    if (close === -1) {
      throw new Error(`README.md line ${i + 1}: unclosed yaml block`);
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
      examples.push({ line: i + 1, section, yaml, invalid, claims });
    }
    i = close;
  }
  return examples;
}

/** The root config for a block: placeholders filled, and the accounts its routes name. */
function configOf(example: Example): JsonObject {
  const filled = example.yaml.replace(/\$\{(\w+)\}/g, (_m, name) => `dummy-${name.toLowerCase()}`);
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

const examples = readmeExamples(README);

describe('README.md configuration examples', () => {
  it('finds the examples, including the worked ones', () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
    expect(examples.filter(e => e.section === 'Worked examples').length).toBeGreaterThanOrEqual(5);
  });

  it.each(examples.filter(e => !e.invalid).map(e => [e.line, e] as const))(
    'the block at line %d loads',
    (_line, example) => {
      const { routes } = readProxyConfig(new ConfigReader(configOf(example)));
      expect(routes.length).toBeGreaterThan(0);
      for (const claim of example.claims) {
        const route = routes.find(r => r.route === claim.route);
        expect(route && { route: route.route, service: route.service, region: route.region }).toEqual(claim);
      }
    },
  );

  // README shows at least one wrong example (Migrating, Field by field); jest needs a non-empty table.
  it.each(examples.filter(e => e.invalid).map(e => [e.line, e] as const))(
    'the block at line %d, shown as wrong, is refused',
    (_line, example) => {
      // The block's own comment gives the start of the error it shows, e.g.
      // `# proxysigv4['/internal-api'].service: cannot be derived from host ...`.
      const shown = /^\s*# (proxysigv4\[.*?)(?:\.\.\.|…)?\s*$/m.exec(example.yaml)?.[1];
      expect(shown).toBeDefined();
      expect(() => readProxyConfig(new ConfigReader(configOf(example)))).toThrow(ProxyConfigError);
      expect(() => readProxyConfig(new ConfigReader(configOf(example)))).toThrow(
        shown!.replace(/[;,]\s*$/, ''),
      );
    },
  );

  it('states service and region for every route of every worked example', () => {
    for (const example of examples.filter(e => e.section === 'Worked examples' && !e.invalid)) {
      const { routes } = readProxyConfig(new ConfigReader(configOf(example)));
      const claimed = new Set(example.claims.map(c => c.route));
      expect([example.line, routes.map(r => r.route).filter(r => !claimed.has(r))]).toEqual([example.line, []]);
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

  it('reads sections, the invalid marker and claims, and skips blocks without proxysigv4', () => {
    expect(readmeExamples(text)).toEqual([
      {
        line: 4,
        section: 'Worked examples',
        yaml: "proxysigv4:\n  '/x': https://x.example.com",
        invalid: true,
        claims: [{ route: '/x', service: 's3', region: 'eu-west-1' }],
      },
    ]);
  });
});

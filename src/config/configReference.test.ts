/*
 * The configuration is described in three places: config.d.ts (the schema Backstage loads,
 * and the comments an editor shows), the configuration reference (docs/configuration.md's
 * field table and section settings), and the code that reads it. This test keeps them from
 * drifting apart: every field is in all three, and no place has a field the others lack.
 * The reference is looked for in README.md and every docs/*.md page, so that it can move
 * without this test silently reading nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import {
  CREDENTIALS_ENDPOINT_FIELDS,
  ROUTE_FIELDS,
  TOP_LEVEL_KEYS,
} from './readRoutes';

const ROOT = path.resolve(__dirname, '../..');

/** The documented fields of config.d.ts's `proxysigv4`, read with the TypeScript parser. */
function schemaFields() {
  const file = ts.createSourceFile(
    'config.d.ts',
    fs.readFileSync(path.join(ROOT, 'config.d.ts'), 'utf8'),
    ts.ScriptTarget.Latest,
    true,
  );
  const config = file.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'Config',
  )!;
  const typeOf = (members: ts.NodeArray<ts.TypeElement>, name: string) => {
    const member = members.find(
      (m): m is ts.PropertySignature => ts.isPropertySignature(m) && m.name.getText() === name,
    );
    return member?.type;
  };
  const names = (members: ts.NodeArray<ts.TypeElement>) =>
    members.filter(ts.isPropertySignature).map(m => m.name.getText().replace(/['"]/g, ''));
  const docTags = (member: ts.Node) =>
    ts.getJSDocTags(member).map(t => `${t.tagName.text} ${t.comment ?? ''}`.trim());

  const section = typeOf(config.members, 'proxysigv4') as ts.TypeLiteralNode;
  const index = section.members.find(ts.isIndexSignatureDeclaration)!;
  const route = (index.type as ts.UnionTypeNode).types.find(ts.isTypeLiteralNode)!;
  const endpoint = typeOf(route.members, 'credentialsEndpoint') as ts.TypeLiteralNode;
  const visibility = new Map<string, string[]>();
  for (const member of [...section.members, ...route.members, ...endpoint.members]) {
    if (ts.isPropertySignature(member)) {
      visibility.set(member.name.getText(), docTags(member));
    }
  }
  return {
    topLevel: names(section.members),
    route: names(route.members),
    endpoint: names(endpoint.members),
    visibility,
  };
}

const TABLE_HEADER = '| field | default | meaning |';
const SETTINGS_INTRO = 'Two settings apply to the whole section';

/** README.md and the docs/ pages, as paths from the root with their text. */
function pages() {
  const docs = fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter(name => name.endsWith('.md'))
    .map(name => `docs/${name}`);
  return ['README.md', ...docs].map(file => ({ file, text: fs.readFileSync(path.join(ROOT, file), 'utf8') }));
}

/** The one page that contains `marker`: the reference must exist, and only once. */
function pageWith(marker: string) {
  const found = pages().filter(page => page.text.includes(marker));
  if (found.length !== 1) {
    throw new Error(`expected one page with "${marker}", found ${found.map(p => p.file).join(', ') || 'none'}`);
  }
  return found[0];
}

/** The lines from the one after `marker`'s line to the next blank line (a table, or a list). */
function blockAfter(text: string, marker: string) {
  const lines = text.slice(text.indexOf(marker)).split('\n');
  let start = 1;
  while (start < lines.length && lines[start].trim() === '') start++;
  const end = lines.findIndex((line, i) => i >= start && line.trim() === '');
  return lines.slice(start, end === -1 ? lines.length : end);
}

/** The fields the configuration reference lists, wherever it now lives. */
function referenceFields() {
  const tablePage = pageWith(TABLE_HEADER);
  // After the header's line: the separator, then one row per field.
  const rows = blockAfter(tablePage.text, TABLE_HEADER).slice(1);
  const route = rows.map(row => /^\| `([A-Za-z]+)` \|/.exec(row)?.[1]);
  const settingsPage = pageWith(SETTINGS_INTRO);
  const topLevel = blockAfter(settingsPage.text, SETTINGS_INTRO)
    .map(line => /^- `proxysigv4\.([A-Za-z]+)`/.exec(line)?.[1])
    .filter(name => name !== undefined);
  const endpointRow = rows.find(row => row.startsWith('| `credentialsEndpoint` |')) ?? '';
  const endpoint = [...endpointRow.matchAll(/`(url|headers)`: /g)].map(m => m[1]);
  return { route, topLevel, endpoint };
}

const sorted = (names: Iterable<string | undefined>) => [...names].sort();

it('lists the same route fields in config.d.ts, the configuration reference and the code', () => {
  const schema = schemaFields();
  const reference = referenceFields();
  expect(sorted(schema.route)).toEqual(sorted(ROUTE_FIELDS));
  expect(sorted(reference.route)).toEqual(sorted(ROUTE_FIELDS));
  // The reference lists them in the order config.d.ts has them.
  expect(reference.route).toEqual(schema.route);
});

it('lists the same section settings in config.d.ts, the configuration reference and the code', () => {
  const schema = schemaFields();
  expect(sorted(schema.topLevel)).toEqual(sorted(TOP_LEVEL_KEYS));
  expect(sorted(referenceFields().topLevel)).toEqual(sorted(TOP_LEVEL_KEYS));
});

it("lists the same credentialsEndpoint fields in config.d.ts, the configuration reference and the code", () => {
  expect(sorted(schemaFields().endpoint)).toEqual(sorted(CREDENTIALS_ENDPOINT_FIELDS));
  expect(sorted(referenceFields().endpoint)).toEqual(sorted(CREDENTIALS_ENDPOINT_FIELDS));
});

it('gives every field a visibility, and marks the secrets secret', () => {
  const { visibility } = schemaFields();
  for (const [name, tags] of visibility) {
    expect([name, tags.some(t => t.startsWith('visibility '))]).toEqual([name, true]);
  }
  const secret = [...visibility].filter(([, tags]) => tags.includes('visibility secret')).map(([name]) => name);
  expect(secret.sort()).toEqual(['externalId', 'headers']);
  expect(visibility.get('headers')).toContain('deepVisibility secret');
});

/*
 * The configuration is described in three places: config.d.ts (the schema Backstage loads,
 * and the comments an editor shows), README.md's configuration reference, and the code that
 * reads it. This test keeps them from drifting apart: every field is in all three, and no
 * place has a field the others lack.
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

/** The fields README.md's configuration reference lists. */
function readmeFields() {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| field | default | meaning |'));
  const rows = table.slice(0, table.indexOf('\n\n')).split('\n').slice(2);
  const route = rows.map(row => /^\| `([A-Za-z]+)` \|/.exec(row)?.[1]);
  const settings = readme.slice(readme.indexOf('Two settings apply to the whole section'));
  const topLevel = [...settings.slice(0, settings.indexOf('\n\n`config.d.ts`')).matchAll(/^- `proxysigv4\.([A-Za-z]+)`/gm)].map(m => m[1]);
  const endpointRow = rows.find(row => row.startsWith('| `credentialsEndpoint` |')) ?? '';
  const endpoint = [...endpointRow.matchAll(/`(url|headers)`: /g)].map(m => m[1]);
  return { route, topLevel, endpoint };
}

const sorted = (names: Iterable<string | undefined>) => [...names].sort();

it('lists the same route fields in config.d.ts, README.md and the code', () => {
  const schema = schemaFields();
  const readme = readmeFields();
  expect(sorted(schema.route)).toEqual(sorted(ROUTE_FIELDS));
  expect(sorted(readme.route)).toEqual(sorted(ROUTE_FIELDS));
  // README lists them in the order config.d.ts has them.
  expect(readme.route).toEqual(schema.route);
});

it('lists the same section settings in config.d.ts, README.md and the code', () => {
  const schema = schemaFields();
  expect(sorted(schema.topLevel)).toEqual(sorted(TOP_LEVEL_KEYS));
  expect(sorted(readmeFields().topLevel)).toEqual(sorted(TOP_LEVEL_KEYS));
});

it("lists the same credentialsEndpoint fields in config.d.ts, README.md and the code", () => {
  expect(sorted(schemaFields().endpoint)).toEqual(sorted(CREDENTIALS_ENDPOINT_FIELDS));
  expect(sorted(readmeFields().endpoint)).toEqual(sorted(CREDENTIALS_ENDPOINT_FIELDS));
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

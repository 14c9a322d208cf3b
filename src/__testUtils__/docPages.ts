/*
 * The documentation pages the docs tests read: README.md and every docs/*.md, as paths from
 * the repository's root.
 */
import fs from 'node:fs';
import path from 'node:path';

/** The repository's root. */
export const ROOT = path.resolve(__dirname, '../..');

/** README.md and every docs/*.md, as paths from the root. */
export const DOC_PAGES: readonly string[] = [
  'README.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter(name => name.endsWith('.md'))
    .sort()
    .map(name => `docs/${name}`),
];

/** A file of the repository, by its path from the root. */
export const readPage = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

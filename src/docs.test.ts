/*
 * README.md is the five-minute way in and docs/ holds the rest; a reader follows links between
 * them. This test keeps those links working: every relative link resolves to a file, every
 * `#anchor` names a heading of its page as GitHub makes heading anchors, every docs page is
 * reachable from README.md, and README.md stays short.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readmeInstall } from '../e2e/readmeInstall';
import { DOC_PAGES, readPage, ROOT } from './__testUtils__/docPages';

/** README.md stays a five-minute read: about 300 lines, with a little room. */
const README_MAX_LINES = 320;

/** The page's lines outside fenced code blocks, with their 1-based line numbers. */
function proseLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let fence: string | undefined;
  text.split('\n').forEach((line, i) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker) {
      fence = marker;
    } else if (fence !== undefined && marker && marker[0] === fence[0] && marker.length >= fence.length) {
      fence = undefined;
    } else if (fence === undefined) {
      out.push({ line: i + 1, text: line });
    }
  });
  return out;
}

/**
 * The anchor GitHub gives a heading (as github-slugger does): the text as rendered (code
 * spans, emphasis and link targets gone), lower-cased, every character that is not a letter,
 * a digit, a mark, `_`, `-` or a space dropped, spaces made `-`.
 */
function slug(heading: string): string {
  const rendered = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/[`*]/g, '');
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Every heading anchor of a page; a repeated heading gets `-1`, `-2`, … as on GitHub. */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const { text: line } of proseLines(text)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

/** The inline links of a page, outside code blocks and code spans. */
function links(text: string, file: string): Link[] {
  const result: Link[] = [];
  for (const { line, text: prose } of proseLines(text)) {
    const withoutCode = prose.replace(/`[^`]*`/g, '``');
    for (const m of withoutCode.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      result.push({ file, line, target: m[1] });
    }
  }
  return result;
}

/** What is wrong with a link, or undefined when it resolves. */
function brokenLink(link: Link): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(link.target)) return undefined; // https:, mailto:: not ours
  const [pathPart, anchor] = link.target.split('#', 2) as [string, string | undefined];
  const targetFile =
    pathPart === '' ? link.file : path.posix.normalize(path.posix.join(path.posix.dirname(link.file), pathPart));
  if (targetFile.startsWith('..') || !fs.existsSync(path.join(ROOT, targetFile))) {
    return `no file ${targetFile}`;
  }
  if (anchor === undefined) return undefined;
  if (!targetFile.endsWith('.md')) return `an anchor into ${targetFile}, which is not a page`;
  if (!anchors(readPage(targetFile)).has(decodeURIComponent(anchor))) {
    return `no heading in ${targetFile} has the anchor #${anchor}`;
  }
  return undefined;
}

describe('README.md, docs/ and CHANGELOG.md', () => {
  // CHANGELOG.md ships in the package too; its links must resolve like the pages'.
  const all = [...DOC_PAGES, 'CHANGELOG.md'].flatMap(file => links(readPage(file), file));

  it('finds the links', () => {
    // A parser that found nothing would make the check below pass vacuously.
    expect(all.length).toBeGreaterThan(100);
    expect(all.filter(l => l.target.includes('#')).length).toBeGreaterThan(50);
  });

  it('has no relative link to a missing file or heading', () => {
    const broken = all.flatMap(link => {
      const problem = brokenLink(link);
      return problem ? [`${link.file}:${link.line}: (${link.target}): ${problem}`] : [];
    });
    expect(broken).toEqual([]);
  });

  it('links every docs page from README.md', () => {
    const linked = new Set(
      links(readPage('README.md'), 'README.md').map(l => path.posix.normalize(l.target.split('#')[0])),
    );
    expect(DOC_PAGES.filter(page => page !== 'README.md' && !linked.has(page))).toEqual([]);
  });

  it("copies README's comparison rows from docs/comparison.md word for word", () => {
    // README shows a short comparison; a row that docs/comparison.md also has (same first
    // cell) must say the same there, so that the two tables cannot drift apart.
    const rows = (text: string) =>
      new Map(
        text
          .split('\n')
          .filter(line => /^\|(?!\s*-)/.test(line))
          // (Links are compared by their text: README's and the page's paths differ.)
          .map(line => line.replace(/\]\([^)]*\)/g, ']').split('|').slice(1, -1).map(cell => cell.trim()))
          .map(cells => [cells[0], cells.slice(1).join(' | ')] as const),
      );
    const full = rows(readPage('docs/comparison.md'));
    const shared = [...rows(readPage('README.md'))].filter(([first]) => first && full.has(first));
    expect(shared.length).toBeGreaterThanOrEqual(5);
    expect(shared.filter(([first, rest]) => full.get(first) !== rest)).toEqual([]);
  });

  it("has the install blocks the install test reads, naming the tarball npm pack writes", () => {
    // e2e/installTest.ts runs them in CI minutes later; a broken marker fails here first.
    const pkg = JSON.parse(readPage('package.json'));
    expect(readmeInstall(readPage('README.md')).tarball).toBe(`${pkg.name}-${pkg.version}.tgz`);
  });

  it('keeps README.md short', () => {
    const lines = readPage('README.md').split('\n').length;
    expect([lines, lines <= README_MAX_LINES]).toEqual([lines, true]);
  });
});

describe('slug and anchors', () => {
  it.each([
    ['Try it: two commands', 'try-it-two-commands'],
    ['OpenSearch `_search`', 'opensearch-_search'],
    ['Migrating from `@segment/backstage-plugin-proxy-sigv4-backend`', 'migrating-from-segmentbackstage-plugin-proxy-sigv4-backend'],
    ['Clock skew: `RequestTimeTooSkewed`, `Signature expired`', 'clock-skew-requesttimetooskewed-signature-expired'],
    ["403 from AWS: the route's identity may not do this", '403-from-aws-the-routes-identity-may-not-do-this'],
    ['0.3.0: the cost of the security fixes', '030-the-cost-of-the-security-fixes'],
    ['Images and links: the user cookie', 'images-and-links-the-user-cookie'],
  ])('%s -> %s', (heading, expected) => {
    expect(slug(heading)).toBe(expected);
  });

  it('numbers repeated headings and ignores headings in code blocks', () => {
    const text = ['# Title', '## Notes', '```sh', '# not a heading', '```', '## Notes', '### Notes'].join('\n');
    expect([...anchors(text)]).toEqual(['title', 'notes', 'notes-1', 'notes-2']);
  });

  it('reads links outside code, with their lines', () => {
    const text = ['See [a](docs/a.md#x) and `[b](nope.md)`.', '```md', '[c](nope.md)', '```', '[d](#y)'].join('\n');
    expect(links(text, 'README.md')).toEqual([
      { file: 'README.md', line: 1, target: 'docs/a.md#x' },
      { file: 'README.md', line: 5, target: '#y' },
    ]);
  });
});

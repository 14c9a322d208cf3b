/*
 * README's installation section, as the install test reads it: the blocks marked with
 * `<!-- install-test: NAME -->` comments (invisible on GitHub) in "## Installation into a
 * Backstage app". A marker must be followed, after blank lines at most, by one fenced block;
 * a missing or moved block fails the test rather than letting it test something else.
 */

export interface ReadmeInstall {
  /** The command to run in a copy of this repository (`npm ci && npm pack`). */
  buildCommand: string;
  /** The command to run in the app's root, with PLUGIN_DIR set (`yarn --cwd ... add ...`). */
  addCommand: string;
  /** The tarball's file name, as the add command names it after `$PLUGIN_DIR/`. */
  tarball: string;
  /** The line to add to packages/backend/src/index.ts. */
  backendLine: string;
  /** The configuration for app-config.yaml (YAML text). */
  appConfig: string;
  /** The configuration for app-config.local.yaml (YAML text). */
  appConfigLocal: string;
  /** The curl command line, as README gives it. */
  curl: string;
}

const SECTION = /^## Installation into a Backstage app[^\n]*\n([\s\S]*?)(?=^## |(?![\s\S]))/m;

/** The fenced block that follows `<!-- install-test: name -->`, of the language given. */
export function markedBlock(text: string, name: string, language: string): string {
  const marker = `<!-- install-test: ${name} -->`;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`README's installation section has no ${marker}`);
  if (text.indexOf(marker, at + marker.length) >= 0) throw new Error(`README has ${marker} twice`);
  // Blank lines at most between the marker and the opening fence.
  const block = /^[ \t]*\n(?:[ \t]*\n)*```(\w*)\n([\s\S]*?\n)```/.exec(text.slice(at + marker.length));
  if (!block) throw new Error(`${marker} is not followed by a fenced block`);
  if (block[1] !== language) throw new Error(`the block after ${marker} is \`\`\`${block[1]}, not \`\`\`${language}`);
  return block[2];
}

/** The lines of a block that are neither blank nor whole-line comments, untouched. */
function codeLines(block: string, comment: string): string[] {
  return block.split('\n').filter(line => line.trim() !== '' && !line.trim().startsWith(comment));
}

export function readmeInstall(readme: string): ReadmeInstall {
  const section = SECTION.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## Installation into a Backstage app" section');

  const commands = codeLines(markedBlock(section, 'commands', 'sh'), '#');
  if (commands.length !== 2) {
    throw new Error(`the install-test: commands block has ${commands.length} command lines, not 2 (build, then add)`);
  }
  const [buildCommand, addCommand] = commands;
  const tarball = /\$\{?PLUGIN_DIR\}?\/([^\s"']+\.tgz)/.exec(addCommand)?.[1];
  if (!tarball) throw new Error(`the add command names no $PLUGIN_DIR/<file>.tgz: ${addCommand}`);

  const backend = codeLines(markedBlock(section, 'backend', 'ts'), '//');
  if (backend.length !== 1) {
    throw new Error(`the install-test: backend block has ${backend.length} code lines, not 1`);
  }

  const curls = codeLines(markedBlock(section, 'curl', 'sh'), '#').filter(l => /^curl\s/.test(l.trim()));
  if (curls.length !== 1) throw new Error(`the install-test: curl block has ${curls.length} curl lines, not 1`);
  if (curls[0].trimEnd().endsWith('\\')) throw new Error('the curl line continues on the next line; keep it on one');

  return {
    buildCommand,
    addCommand,
    tarball,
    backendLine: backend[0].trim(),
    appConfig: markedBlock(section, 'app-config', 'yaml'),
    appConfigLocal: markedBlock(section, 'app-config-local', 'yaml'),
    curl: curls[0].trim(),
  };
}

import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';

/**
 * Every document a code comment cites is in this repository: a note of `docs/` by section (`docs/graph.md §3.1`) or
 * another file of the repository (`emulator/README.md`). Microsoft's pages, RFCs, OWASP and public issue threads are
 * cited inside those notes, never from the code, so a maintainer who only has the repository can follow every
 * reference. @see docs/engineering.md §12
 */

const root = new URL('../..', import.meta.url).pathname;
const CODE_FOLDERS = ['src', 'emulator', 'test', 'bench', 'scripts'];
const CODE_FILE = /\.(ts|mts|js|mjs)$/;
/** Markdown outside docs/ that cites notes the way code does (relative to the repository root). */
const MARKDOWN_FILES = ['README.md', 'emulator/README.md'];

/** Hosts named as protocol values (issuers, endpoints, examples), not as documents. */
const PROTOCOL_HOSTS = [
  'login.microsoftonline.com',
  'graph.microsoft.com',
  'outlook.office.com',
  'sts.windows.net',
  'localhost',
  '127.0.0.1',
  '[::1]',
];

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else if (CODE_FILE.test(entry.name)) out.push(full);
  }
  return out;
}

/** The comment text of each line: `//` and block-comment lines, and a trailing `// …` after code. */
function commentLines(source: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let inBlock = false;
  source.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    if (inBlock || trimmed.startsWith('/*')) {
      out.push({ line: index + 1, text: trimmed });
      inBlock = !trimmed.includes('*/');
      return;
    }
    if (trimmed.startsWith('//')) {
      out.push({ line: index + 1, text: trimmed });
      return;
    }
    const trailing = raw.indexOf(' // ');
    if (trailing >= 0) out.push({ line: index + 1, text: raw.slice(trailing) });
  });
  return out;
}

/** The `§` ids of a note: every heading that starts with one (`## §3.1 Endpoints` → `3.1`). */
function sectionsOf(path: string): Set<string> {
  const ids = new Set<string>();
  for (const match of readFileSync(path, 'utf8').matchAll(/^#+ §([A-Z0-9]+(?:\.[0-9]+)*)\b/gm)) ids.add(match[1]!);
  return ids;
}

const SECTION = String.raw`§[A-Z0-9]+(?:\.[0-9]+)*(?:[–-][0-9]+(?:\.[0-9]+)*)?`;
const NOTE_CITATION = new RegExp(String.raw`docs/([\w-]+\.md)((?:(?:\s*,\s*|\s+and\s+|\s+)${SECTION})*)`, 'g');
const MARKDOWN_NAME = /(?<![\w/.-])((?:\.\.?\/)*[\w./-]*[\w-]+\.md)\b/g;
const URL_IN_TEXT = /https?:\/\/([^/\s'"`)\]>]+)/g;
/**
 * Shorthands for outside sources (Microsoft's doc repositories, MSAL source) and public issue threads
 * (an owner, a repository and an issue number): they belong in the notes.
 */
const OUTSIDE_SHORTHAND =
  /(?<![\w/])(?:EP|GD|MC|MN)\/|(?<![\w/.-])concepts\/[\w-]+\.md|(?<![\w/.-])[\w.-]+\/[\w.-]+#\d+|(?<![\w/.#-])[a-z][\w.]*-[\w.-]+#\d+/;

/** The notes' names as other documents knew them before they moved into docs/. */
const FORMER_NOTE = /^(microsoft|engineering|product|warmup)\.md$/;

/**
 * What is wrong with the citations of one piece of text, as messages; `base` is the citing file's folder. Code
 * (`kind: 'code'`) cites notes only; a document (`'document'`) may also name its outside evidence the way docs/ notes
 * do (`[DOC]` and the page of Microsoft's documentation), but not a note that is not in the repository.
 */
function citationProblems(text: string, base: string, kind: 'code' | 'document' = 'code'): string[] {
  const problems: string[] = [];
  if (text.includes('shared/docs')) problems.push('cites shared/docs, outside the repository');
  const outside = kind === 'code' ? OUTSIDE_SHORTHAND.exec(text) : null;
  if (outside) problems.push(`cites an outside source (${outside[0]}): cite the docs/ note that records it`);
  for (const [, host] of kind === 'code' ? text.matchAll(URL_IN_TEXT) : []) {
    if (!PROTOCOL_HOSTS.some((allowed) => host === allowed || host!.startsWith(allowed))) {
      if (!/(^|\.)example(\.[a-z]+)?$/.test(host!)) problems.push(`cites an outside URL (${host})`);
    }
  }
  for (const [, file, sections] of text.matchAll(NOTE_CITATION)) {
    const path = join(root, 'docs', file!);
    if (!existsSync(path)) {
      problems.push(`cites docs/${file}, which does not exist`);
      continue;
    }
    const known = sectionsOf(path);
    for (const [section] of sections!.matchAll(new RegExp(SECTION, 'g'))) {
      for (const id of section.slice(1).split(/[–-]/)) {
        // `§1.2–1.6`: both ends; a bare second end (`§3.1–2`) is not used in this repository.
        if (!known.has(id)) problems.push(`cites docs/${file} §${id}, which has no such section`);
      }
    }
  }
  for (const [, name] of text.matchAll(MARKDOWN_NAME)) {
    if (/^docs\/[\w-]+\.md$/.test(name!) || OUTSIDE_SHORTHAND.test(name!)) continue; // checked above
    if (kind === 'document' && !FORMER_NOTE.test(name!)) continue;
    const fromRoot = join(root, name!);
    const fromHere = join(base, name!);
    if (!existsSync(fromRoot) && !existsSync(fromHere)) problems.push(`cites ${name}, which is not in the repository`);
  }
  return problems;
}

describe('documentation references', () => {
  it('every comment cites only documents of this repository, and sections that exist', () => {
    const problems: string[] = [];
    for (const folder of CODE_FOLDERS) {
      for (const file of listFiles(join(root, folder))) {
        for (const { line, text } of commentLines(readFileSync(file, 'utf8'))) {
          for (const problem of citationProblems(text, dirname(file))) {
            problems.push(`${relative(root, file)}:${line}: ${problem}`);
          }
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('the READMEs cite only notes and sections that exist', () => {
    const problems: string[] = [];
    for (const file of MARKDOWN_FILES) {
      const text = readFileSync(join(root, file), 'utf8');
      text.split('\n').forEach((line, index) => {
        for (const problem of citationProblems(line, dirname(join(root, file)), 'document')) {
          problems.push(`${file}:${index + 1}: ${problem}`);
        }
      });
    }
    assert.deepEqual(problems, []);
  });

  it('finds what it must refuse', () => {
    const here = join(root, 'src');
    assert.deepEqual(citationProblems('@see docs/graph.md §3.1, §3.3', here), []);
    assert.deepEqual(citationProblems('(docs/entra.md §1.2–1.6)', here), []);
    assert.equal(citationProblems('@see microsoft.md §3.1', here).length, 1);
    assert.equal(citationProblems('@see ../../shared/docs/microsoft.md §3', here).length, 2);
    assert.deepEqual(citationProblems('[DOC] GD/message-move.md, https://learn.microsoft.com/x', here, 'document'), []);
    assert.equal(citationProblems('(microsoft.md §1.6)', here, 'document').length, 1);
    assert.equal(citationProblems('@see docs/graph.md §9.9', here).length, 1);
    assert.equal(citationProblems('@see docs/nowhere.md', here).length, 1);
    assert.equal(citationProblems('@see EP/v2-admin-consent.md', here).length, 1);
    assert.equal(citationProblems('@see https://owasp.org/www-community/x', here).length, 1);
    assert.equal(citationProblems('[OBS microsoftgraph/msgraph-sdk-java#409]', here).length, 1);
    assert.equal(citationProblems('[OBS msgraph-sdk-java#409]', here).length, 1);
    assert.deepEqual(citationProblems('issue 3 item 4; color #123456', here), []);
    assert.deepEqual(citationProblems('issuer `https://login.microsoftonline.com/{tid}/v2.0`', here), []);
    assert.deepEqual(
      commentLines('const a = 1; // see x\n/**\n * y\n */\nconst b = 2;').map((c) => c.line),
      [1, 2, 3, 4],
    );
  });
});

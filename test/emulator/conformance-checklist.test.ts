import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

/**
 * The conformance table in `emulator/README.md` maps each behaviour of docs/conformance.md and issue 2 to the tests
 * that drive it over HTTP (`` `file.test.ts` › test name ``). This keeps the table honest: every file it names exists
 * and holds a test of that exact name, and the table still lists every item of docs/conformance.md.
 */

const root = new URL('../..', import.meta.url).pathname;

function conformanceTable(): Array<{ behaviour: string; tests: Array<{ file: string; name: string }> }> {
  const readme = readFileSync(`${root}emulator/README.md`, 'utf8');
  const start = readme.indexOf('\n## Conformance\n');
  assert.ok(start >= 0, 'emulator/README.md has a Conformance section');
  const next = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, next < 0 ? undefined : next);
  const rows = [];
  for (const line of section.split('\n')) {
    const cells = line.split(' | ');
    if (!line.startsWith('| ') || cells.length !== 2 || line.startsWith('| ---') || line.startsWith('| Behaviour')) {
      continue;
    }
    const behaviour = cells[0]!.slice(2).trim();
    const tests = cells[1]!
      .replace(/ \|$/, '')
      .split('<br>')
      .map((reference) => {
        const match = /^`([a-z-]+\.test\.ts)` › (.+)$/.exec(reference.trim());
        assert.ok(match, `malformed test reference in "${behaviour}": ${reference}`);
        return { file: match[1]!, name: match[2]! };
      });
    rows.push({ behaviour, tests });
  }
  return rows;
}

describe('emulator conformance checklist', () => {
  it('names only tests that exist, for every behaviour listed', () => {
    const rows = conformanceTable();
    assert.ok(rows.length >= 40, `only ${rows.length} rows`);
    const sources = new Map<string, string>();
    for (const { behaviour, tests } of rows) {
      assert.ok(tests.length > 0, `no test for "${behaviour}"`);
      for (const { file, name } of tests) {
        const path = `${root}test/emulator/${file}`;
        assert.ok(existsSync(path), `"${behaviour}": no file ${file}`);
        if (!sources.has(file)) sources.set(file, readFileSync(path, 'utf8'));
        const source = sources.get(file)!;
        const declared = [`it('${name}'`, `it("${name}"`, `it(\`${name}\``].some((form) => source.includes(form));
        assert.ok(declared, `"${behaviour}": ${file} has no test named "${name}"`);
      }
    }
  });

  it('covers every item of docs/conformance.md', () => {
    const behaviours = conformanceTable()
      .map((row) => row.behaviour)
      .join('\n');
    // One phrase per item of the checklist (docs/conformance.md), as the table words it.
    for (const item of [
      'exact `redirect_uri` match',
      '`session_state` on success',
      'codes single-use (54005)',
      'codes live about 10 minutes',
      'codes bound to client',
      'PKCE S256 and plain',
      'the old one still works',
      '90-day sliding inactivity (700082)',
      'revoke sessions → 50173',
      'consent revoked → 65001',
      'secret expired → 7000222, wrong secret → 7000215',
      'unknown app → 700016',
      '`expires_in` 3600–5400 with `ext_expires_in`',
      '`error_codes`, `trace_id`, `correlation_id`, `timestamp`, `error_uri`, `suberror`/`claims`',
      'personal accounts under `9188040d-…`',
      '`client_info` when `client_info=1`',
      'RS256 id_tokens verifiable with the JWKS',
      'sendMail, `/send`, reply → 202 empty',
      'create, createReply, move, messageRules → 201',
      'PATCH → 200',
      'move gives a new id (unless ImmutableId)',
      '`x-` header rule and 5-header cap',
      '`InefficientFilter` rule',
      '429 with `Retry-After` for 10,000/10 min and 4 concurrent',
      'sending limits per mailbox type',
      'missing scope → 403 `ErrorAccessDenied`',
      'expired/unknown token → 401 `InvalidAuthenticationToken`',
    ]) {
      assert.ok(behaviours.includes(item), `the table lists no row for "${item}"`);
    }
  });
});

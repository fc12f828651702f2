/**
 * The one error-code registry (src/api/error-registry.ts, the modules' tables of src/errors/error-table.ts, plus the
 * tables of the features src/app.ts hands the API): every
 * code the source names is registered with a status and a sentence, every registered code is named somewhere it can
 * be thrown or answered, and the OpenAPI document lists them all.
 *
 * "Named" is read from the source: an UPPER_SNAKE string literal whose first segment is a registered module prefix
 * (`VAULT_…`, `OUTBOX_…`), however it is thrown (`new AppError('…'`, `new TokenError('…'`, `outboxError('…'`, a
 * code passed down as an argument, an answer's `code: '…'`). The tables' keys are not literals, and the files that
 * only document codes (the error tables' lists, the OpenAPI operations) are left out, so a code only documented
 * counts as never thrown.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { apiErrorCatalogue, buildOpenApiDocument } from '../../src/api/openapi.js';
import { API_FEATURES } from '../../src/app.js';

const root = new URL('../..', import.meta.url).pathname;

/** The registry and the error tables of the features the composition root hands the API (warm-up). */
const ERROR_REGISTRY = apiErrorCatalogue(API_FEATURES);

/** Files that list codes for documentation, not because they throw them. */
const DOCUMENTING = [/^src\/api\/api-errors\.ts$/, /^src\/api\/openapi\.ts$/, /^src\/[^/]+\/[^/]+-api\.ts$/];
/** Environment variables that happen to share a module's prefix. */
const NOT_ERROR_CODES = new Set(['WEBHOOK_URL', 'WEBHOOK_SECRET']);

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Code → the files that name it. */
function namedCodes(): Map<string, string[]> {
  const prefixes = new Set(Object.keys(ERROR_REGISTRY).map((code) => code.split('_')[0]));
  const named = new Map<string, string[]>();
  for (const file of sourceFiles('src')) {
    const path = relative(root, join(root, file));
    if (DOCUMENTING.some((pattern) => pattern.test(path))) continue;
    for (const match of readFileSync(join(root, file), 'utf8').matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)'/g)) {
      const code = match[1] as string;
      if (NOT_ERROR_CODES.has(code) || !prefixes.has(code.split('_')[0])) continue;
      if (!code.includes('_') && !(code in ERROR_REGISTRY)) continue;
      named.set(code, [...(named.get(code) ?? []), path]);
    }
  }
  return named;
}

describe('errors: one registry of codes', () => {
  const named = namedCodes();

  it('registers every code the source throws or answers with', () => {
    assert.ok(named.has('VAULT_TAMPERED') && named.has('OUTBOX_NO_RECIPIENTS'), 'the scan found the modules');
    const unregistered = [...named].filter(([code]) => !(code in ERROR_REGISTRY)).map(([c, [f]]) => `${c} (${f})`);
    assert.deepEqual(unregistered, [], 'named in the source but in no error table of src/api/error-registry.ts');
  });

  it('holds no code that nothing throws', () => {
    const unused = Object.keys(ERROR_REGISTRY).filter((code) => !named.has(code));
    assert.deepEqual(unused, [], 'registered, but no source file outside the documentation names it');
  });

  it('gives each code an HTTP status and a sentence', () => {
    for (const [code, { status, description }] of Object.entries(ERROR_REGISTRY)) {
      assert.match(code, /^[A-Z][A-Z0-9_]+$/, code);
      assert.ok(Number.isInteger(status) && status >= 400 && status < 600, `${code}: status ${status}`);
      assert.ok(description.length > 10 && /[.)`…]$/.test(description), `${code}: "${description}"`);
    }
  });

  it('lists every registered code in the OpenAPI document', () => {
    const doc = buildOpenApiDocument('http://localhost:3000', API_FEATURES) as {
      'x-error-codes': Record<string, unknown>;
    };
    assert.deepEqual(Object.keys(doc['x-error-codes']).sort(), Object.keys(ERROR_REGISTRY).sort());
  });
});

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const root = new URL('../../', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/**
 * Warm-up is a feature the rest of the service does not import (issue 12): the API and the dashboard take it from
 * the composition root (src/app.ts) as an ApiFeature and a DashboardPageGroup. An import of src/warmup from
 * src/api or src/web would couple them to it again.
 */
test('src/api and src/web import nothing from src/warmup; src/app.ts composes it', () => {
  const files = ['src/api', 'src/web'].flatMap((dir) => sourceFiles(join(root, dir)));
  assert.ok(files.length > 10, 'the scan found the files');
  const offending = files.filter((file) =>
    [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^;]*?from\s+'([^']+)'/gm)].some((match) =>
      /(^|\/)warmup\//.test(match[1] ?? ''),
    ),
  );
  assert.deepEqual(
    offending.map((file) => relative(root, file)),
    [],
  );
  const app = readFileSync(join(root, 'src/app.ts'), 'utf8');
  assert.match(app, /from '\.\/warmup\/warmup-api-routes\.js'/);
  assert.match(app, /from '\.\/warmup\/warmup-dashboard-routes\.js'/);
});

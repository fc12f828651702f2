#!/usr/bin/env node
// Runs the benchmarks in bench/ (each top-level bench/<name>.ts, one after the other, through tsx).
//
// Usage: node scripts/run-bench.mjs [name ...] [--option value ...]
//   npm run bench                      every benchmark
//   npm run bench -- emulator          bench/emulator-sendmail.ts (a name matches exactly or as a substring)
//   npm run bench -- emulator --count 5000
// Arguments starting with -- (and their values) are passed to every benchmark run. Fails when a name matches
// nothing, when there are no benchmarks, or when a benchmark fails.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const benchDir = join(root, 'bench');

const names = [];
const passThrough = [];
const argv = process.argv.slice(2);
for (let index = 0; index < argv.length; index++) {
  const arg = argv[index];
  if (arg.startsWith('--')) {
    passThrough.push(arg);
    const value = argv[index + 1];
    if (!arg.includes('=') && value !== undefined && !value.startsWith('--')) {
      passThrough.push(value);
      index++;
    }
  } else {
    names.push(arg);
  }
}

const available = readdirSync(benchDir, { withFileTypes: true })
  .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
  .map((entry) => entry.name.slice(0, -'.ts'.length))
  .sort();
if (available.length === 0) {
  console.error('run-bench: no benchmarks in bench/');
  process.exit(1);
}

const selected = [];
for (const name of names) {
  const wanted = name.replace(/^bench\//, '').replace(/\.ts$/, '');
  const matches = available.includes(wanted) ? [wanted] : available.filter((each) => each.includes(wanted));
  if (matches.length === 0) {
    console.error(`run-bench: no benchmark matches "${name}" (available: ${available.join(', ')})`);
    process.exit(1);
  }
  for (const match of matches) if (!selected.includes(match)) selected.push(match);
}
const runs = selected.length > 0 ? selected : available;

let failed = 0;
for (const name of runs) {
  console.log(`\n=== bench/${name}.ts ${passThrough.join(' ')}`.trimEnd());
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(benchDir, `${name}.ts`), ...passThrough], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    failed++;
    console.error(`run-bench: bench/${name}.ts failed (${result.signal ?? `exit ${result.status}`})`);
  }
}
process.exit(failed > 0 ? 1 : 0);

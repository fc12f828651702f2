#!/usr/bin/env node
// Runs every test/**/*.test.ts file with Node's test runner through tsx.
//
// Why a script: Node 20's runner finds no .ts files without explicit paths and then exits 0, so a suite
// that lost its files would "pass". This script lists the files itself, fails when it finds none, and
// fails again when the runner reports zero executed tests.
//
// Usage: node scripts/run-tests.mjs [path-or-substring ...]   (filters the file list)
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function listTests(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTests(full));
    else if (entry.name.endsWith('.test.ts')) out.push(relative(root, full));
  }
  return out.sort();
}

const filters = process.argv.slice(2);
const files = listTests(join(root, 'test')).filter(
  (file) => filters.length === 0 || filters.some((filter) => file.includes(filter)),
);
if (files.length === 0) {
  console.error(`run-tests: no test files found${filters.length ? ` matching ${filters.join(', ')}` : ''}`);
  process.exit(1);
}

const concurrency = process.env.TEST_CONCURRENCY ?? '2';
const args = [
  '--import',
  'tsx',
  // Each test process reports the HTTP requests it has waited a minute for (test/support/stall-report.ts): a hang
  // then says where it is before the per-test timeout below ends it.
  '--import',
  './test/support/stall-report.ts',
  '--test',
  `--test-concurrency=${concurrency}`,
  // A file whose tests have all finished but that still holds a handle (a server a failed hook never closed) would
  // otherwise keep the whole run waiting forever; its tests are judged, then it is made to exit.
  '--test-force-exit',
  // One test may take 3 minutes at most (the slowest acceptance tests take well under that).
  '--test-timeout=180000',
  '--test-reporter=spec',
  ...files,
];
// The spec report is passed through as it comes and kept to read its summary (a second reporter writing to a file
// would be cut short by --test-force-exit).
const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let report = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  report += chunk.toString();
  if (report.length > 1_000_000) report = report.slice(-100_000);
});
child.on('close', (code, signal) => {
  const count = (name) => Number(new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(report)?.[1] ?? 0);
  const tests = count('tests');
  const passed = count('pass');
  // A cancelled test (its hook failed, or it timed out) did not pass: count it as failed.
  const failed = count('fail') + count('cancelled');
  const skipped = count('skipped') + count('todo');
  console.log(`\n${files.length} test files`);
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  if (signal) {
    console.error(`run-tests: the test runner was killed by ${signal}`);
    process.exit(1);
  }
  if (tests === 0) {
    console.error('run-tests: the runner executed no tests');
    process.exit(1);
  }
  process.exit(code ?? 1);
});

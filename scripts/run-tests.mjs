#!/usr/bin/env node
// Runs every test/**/*.test.ts file with Node's test runner through tsx.
//
// Why a script: Node 20's runner finds no .ts files without explicit paths and then exits 0, so a suite
// that lost its files would "pass". This script lists the files itself, fails when it finds none, and
// fails again when the runner reports zero executed tests.
//
// Usage: node scripts/run-tests.mjs [path-or-substring ...]   (filters the file list)
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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
  // No --test-force-exit: under process isolation it cuts the end off a file's report once its tests have passed,
  // so the counts below came out short while the run still exited 0 (docs/engineering.md §T). A file that never
  // exits is caught below instead.
  // One test may take 3 minutes at most (the slowest acceptance tests take well under that).
  '--test-timeout=180000',
  '--test-reporter=spec',
  ...files,
];
// The spec report is passed through as it comes and kept to read its summary.
const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let report = '';
let lastOutputAt = Date.now();
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  report += chunk.toString();
  if (report.length > 1_000_000) report = report.slice(-100_000);
  lastOutputAt = Date.now();
});

// A test that runs reports within its 3-minute timeout, so a run silent for twice that (room for a slow hook on a
// loaded machine) is a file whose tests have finished but that still holds a handle open (a server a failed hook
// never closed): name it and stop the run.
const SILENCE_LIMIT_MS = Number(process.env.TEST_SILENCE_LIMIT_MS ?? 360_000);
let stuck = null;
const watchdog = setInterval(() => {
  if (Date.now() - lastOutputAt < SILENCE_LIMIT_MS) return;
  const running = testProcessesOf(child.pid);
  stuck = running.map((each) => each.file);
  console.error(
    `run-tests: no test reported for ${Math.round(SILENCE_LIMIT_MS / 1000)} s; still running: ${stuck.join(', ') || 'unknown'}`,
  );
  for (const each of running) process.kill(each.pid, 'SIGKILL');
  child.kill('SIGKILL');
}, 5_000);
watchdog.unref();

/** The runner's (pid) test file processes still alive, from /proc (Linux, where CI runs). */
function testProcessesOf(pid) {
  const running = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (Number(parent) !== pid) continue;
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const file = argv.find((arg) => arg.endsWith('.test.ts'));
      if (file) running.push({ pid: Number(entry), file: relative(root, file) });
    } catch {
      // The process ended while we looked.
    }
  }
  return running;
}

child.on('close', (code, signal) => {
  clearInterval(watchdog);
  const count = (name) => Number(new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(report)?.[1] ?? 0);
  const tests = count('tests');
  const passed = count('pass');
  // A cancelled test (its hook failed, or it timed out) did not pass: count it as failed.
  const failed = count('fail') + count('cancelled');
  const skipped = count('skipped') + count('todo');
  console.log(`\n${files.length} test files`);
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  if (stuck) {
    console.error(`run-tests: stopped: a test file did not exit after its tests (${stuck.join(', ') || 'unknown'})`);
    process.exit(1);
  }
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

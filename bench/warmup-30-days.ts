import { parseArgs } from 'node:util';
import type { DbDialect } from '../src/db/schema.js';
import { runWarmupSimulation } from '../test/support/warmup-simulation.js';
import { integerArg } from './support/args.js';
import { loadLine, machineLine, Problems, runBenchmark } from './support/report.js';

/**
 * Issue 12's acceptance run in full (docs/warmup.md §V): 24 warm-up mailboxes in three tenants (two Microsoft 365
 * tenants and Outlook.com) starting with about 40% of their mail in Junk, 30 days on the emulator's clock, on each
 * database (SQLite with the in-process loop's warm-up task; PostgreSQL as one `mailbridge api` and one `mailbridge
 * worker` process on the emulator's clock, or with `--in-process` pg-boss's `warmup-sweep` handler run in this
 * process), plus one mailbox that starts at full volume. Prints every checked figure and exits non-zero on a failed check. The suite runs a cut-down version
 * (test/warmup/warmup-acceptance.test.ts); both use test/support/warmup-simulation.ts.
 *
 *   npm run bench -- warmup-30-days [--mailboxes 24] [--days 30] [--databases sqlite,postgres] [--step-minutes 5] [--no-full-volume] [--no-bounce-reader] [--in-process]
 */

const { values: args } = parseArgs({
  options: {
    mailboxes: { type: 'string', default: '24' },
    days: { type: 'string', default: '30' },
    'inbox-by-day': { type: 'string', default: '18' },
    databases: { type: 'string', default: 'sqlite,postgres' },
    'step-minutes': { type: 'string', default: '5' },
    'no-full-volume': { type: 'boolean', default: false },
    'no-bounce-reader': { type: 'boolean', default: false },
    'in-process': { type: 'boolean', default: false },
  },
});
const MAILBOXES = integerArg('mailboxes', args.mailboxes, 3);
const DAYS = integerArg('days', args.days, 8);
const STEP_MINUTES = integerArg('step-minutes', args['step-minutes']);
const INBOX_BY_DAY = integerArg('inbox-by-day', args['inbox-by-day']);
const DATABASES = (args.databases ?? '').split(',').map((name) => {
  if (name !== 'sqlite' && name !== 'postgres') throw new Error(`--databases: unknown "${name}"`);
  return name as DbDialect;
});

await runBenchmark(async () => {
  console.log(machineLine());
  console.log(loadLine('start'));
  const problems = new Problems();
  for (const dialect of DATABASES) {
    const began = Date.now();
    const how = dialect === 'sqlite' ? 'in-process loop' : args['in-process'] ? 'in-process handler' : 'api + worker';
    console.log(`\n## ${dialect} (${how}): ${MAILBOXES} mailboxes, ${DAYS} simulated days`);
    const report = await runWarmupSimulation({
      dialect,
      processes: dialect === 'postgres' && !args['in-process'],
      mailboxes: MAILBOXES,
      days: DAYS,
      inboxByDay: INBOX_BY_DAY,
      stepMinutes: STEP_MINUTES,
      fullVolume: !args['no-full-volume'],
      bounceReader: !args['no-bounce-reader'],
      log: (line) => console.log(`  ${line} (${((Date.now() - began) / 1000).toFixed(0)} s)`),
    });
    console.log(
      `inbox share per day (oracle): ${report.inboxByDay.map((v, i) => `${i + 1}:${v === null ? '–' : `${Math.round(v * 100)}%`}`).join(' ')}`,
    );
    for (const check of report.checks) {
      console.log(`${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
      if (!check.ok) problems.add(`[${dialect}] ${check.name}: ${check.detail}`);
    }
    const phases = Object.entries(report.wallMs).map(([phase, ms]) => `${phase} ${(ms / 1000).toFixed(0)} s`);
    console.log(
      `${report.warmupSent} warm-up sends, ${report.steps} loop steps (${phases.join(', ')}), ${((Date.now() - began) / 1000).toFixed(0)} s wall time`,
    );
  }
  console.log(loadLine('end'));
  problems.print();
});

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { COMMON_CHECKS, runWarmupSimulation, type SimulationReport } from '../support/warmup-simulation.js';
import { itPassesChecks } from './simulation-checks.js';

/**
 * Issue 12's acceptance run as deployed on PostgreSQL (docs/warmup.md §V): one `mailbridge api` and one
 * `mailbridge worker` process, their clock the emulator's through the clock file (src/platform/clock-file.ts), the
 * work of each step asked of the worker through pg-boss (test/support/warmup-simulation-processes.ts), every figure
 * read through the api process. Cut down to fit the suite: 3 mailboxes (one per tenant, one of them receive-only),
 * 1 simulated day, 60-minute steps (each costs the worker's job polling, about 2 s of wall time, and the runner
 * gives a file 3 minutes), bounce reader off as in warmup-acceptance.test.ts. The same checks as the in-process run
 * but the Inbox share: a single day starts where the pool starts (about 40% in Junk), and the climb to 90% is the
 * in-process run's (warmup-acceptance.test.ts) and the 30-day bench's to show.
 */

describe('warm-up acceptance on api + worker processes: 3 mailboxes, 1 simulated day [postgres]', () => {
  let report: SimulationReport;
  before(async () => {
    report = await runWarmupSimulation({
      dialect: 'postgres',
      processes: true,
      mailboxes: 3,
      days: 1,
      inboxByDay: 1,
      stepMinutes: 60,
      bounceReader: false,
    });
  });

  itPassesChecks(() => report, COMMON_CHECKS);
  it('sent warm-up mail through the worker process', () => {
    assert.ok(report.warmupSent > 0, `${report.warmupSent} warm-up sends`);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runWarmupSimulation } from '../support/warmup-simulation.js';

/**
 * Issue 12's acceptance run, cut down to fit the suite (docs/warmup.md §V): 6 warm-up mailboxes in three tenants
 * (two Microsoft 365 tenants and Outlook.com), starting with about 40% of their mail in Junk, for 20 simulated days
 * on SQLite with the in-process loop's warm-up task, the loop stepping every 10 simulated minutes. The full run
 * (24 mailboxes and a full-volume one, 30 days, both databases) is `npm run bench -- warmup-30-days`; both assert
 * the same checks (test/support/warmup-simulation.ts).
 */

describe('warm-up acceptance: 6 mailboxes, 3 tenants, 20 simulated days [sqlite]', () => {
  it('reaches 90% Inbox by day 18 within the ramp, slots and balance, and reports what the emulator logged', async () => {
    const report = await runWarmupSimulation({
      dialect: 'sqlite',
      mailboxes: 6,
      days: 20,
      inboxByDay: 18,
      stepMinutes: 10,
      // Nothing can bounce here (every partner exists); the bounce reader is most of the loop's time, and a bounce
      // it missed would still fail the figures check (reported bounces against the emulator's NDRs).
      bounceReader: false,
    });
    for (const check of report.checks) assert.ok(check.ok, `${check.name}: ${check.detail}`);
    assert.equal(report.checks.length, 10);
  });
});

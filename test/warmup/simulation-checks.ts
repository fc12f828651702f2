import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { SimulationReport } from '../support/warmup-simulation.js';

/**
 * One test per named check of a run (`report` gives the run's report once its `before` hook made it), failing with
 * the check's figures.
 */
export function itPassesChecks(report: () => SimulationReport, names: readonly string[]): void {
  for (const name of names) {
    it(name, (t) => {
      const check = report().checks.find((each) => each.name === name);
      assert.ok(check, `the simulation ran the check "${name}"`);
      t.diagnostic(check.detail);
      assert.ok(check.ok, check.detail);
    });
  }
}

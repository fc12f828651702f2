import assert from 'node:assert/strict';
import type { DbDialect } from '../../src/db/schema.js';
import { jobHandler } from '../../src/jobs/job-handlers.js';
import type { AccessTokenProvider } from '../../src/tokens/access-token-provider.js';
import { WARMUP_SWEEP } from '../../src/warmup/warmup-background.js';
import { builtInTasks } from '../../src/worker/background-work.js';
import type { OutboxHarness } from '../outbox/outbox-test-kit.js';

/**
 * Warm-up's entry in each runner (docs/warmup.md §W): pg-boss's `warmup-sweep` job on PostgreSQL, the in-process
 * loop's `warmup` task on SQLite, as `mailbridge worker` and `mailbridge start` run them.
 */
export function warmupRunnerOf(
  h: OutboxHarness,
  dialect: DbDialect,
  provider: AccessTokenProvider,
): () => Promise<unknown> {
  if (dialect === 'postgres') {
    const handle = jobHandler(h.service.deps, { provider });
    return () => handle(WARMUP_SWEEP, {});
  }
  const task = builtInTasks(h.service.deps, provider).find((each) => each.name === 'warmup');
  assert.ok(task, 'the in-process loop has a warmup task');
  return () => task.run();
}

/** Moves the clock in one-minute steps for `ms`, running the warm-up work and the outbox at each. */
export async function runWarmupFor(h: OutboxHarness, runWarmup: () => Promise<unknown>, ms: number): Promise<void> {
  const end = h.clock.now() + ms;
  while (h.clock.now() < end) {
    await runWarmup();
    await h.drain();
    h.advance(60);
  }
}

/**
 * The background loop: ticks on its (injected) timer and on `runOnce()`, runs the named tasks in order, isolates a
 * failing task, waits for the tick in progress on `stop()`; and, end to end against the emulator, the worker's
 * health check finds a revoked consent before any send, and its schedule repair adopts an account without one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser, revokeUserConsent } from '../../emulator/control/actions.js';
import { DEMO_PASSWORD } from '../../emulator/seed.js';
import { startBackgroundWork, type WorkerTimers } from '../../src/worker/background-work.js';
import { deferred, waitFor } from '../support/wait.js';
import { type LifecycleHarness, startLifecycleHarness } from '../tokens/support/lifecycle-harness.js';

const HOUR = 3600;

/** Timers the test fires by hand. */
function manualTimers(): WorkerTimers & { pending: Array<{ fn: () => void; ms: number }>; fire(): void } {
  const pending: Array<{ fn: () => void; ms: number }> = [];
  return {
    pending,
    setTimeout: (fn, ms) => {
      const entry = { fn, ms };
      pending.push(entry);
      return entry;
    },
    clearTimeout: (handle) => {
      const index = pending.indexOf(handle as { fn: () => void; ms: number });
      if (index >= 0) pending.splice(index, 1);
    },
    fire() {
      const entry = pending.shift();
      assert.ok(entry, 'a tick is scheduled');
      entry.fn();
    },
  };
}

describe('background work', () => {
  let h: LifecycleHarness;
  before(async () => {
    h = await startLifecycleHarness({ dialect: 'sqlite' });
  });
  after(async () => {
    await h?.close();
  });

  test('names its tasks; extra tasks run after the built-in ones', () => {
    const work = startBackgroundWork(h.deps, {
      autoStart: false,
      extraTasks: [{ name: 'extra', run: async () => {} }],
    });
    const names = work.tasks.map((task) => task.name);
    assert.deepEqual(names.slice(0, 4), ['schedule-repair', 'keepalive', 'health-check', 'secret-expiry']);
    assert.equal(names.at(-1), 'extra');
  });

  test('ticks on its timer, never overlapping, and a failing task does not stop the others', async () => {
    const timers = manualTimers();
    const ran: string[] = [];
    const gate = deferred();
    const work = startBackgroundWork(h.deps, {
      timers,
      intervalMs: 5000,
      extraTasks: [
        {
          name: 'broken',
          run: async () => {
            ran.push('broken');
            throw new Error('boom');
          },
        },
        {
          name: 'slow',
          run: async () => {
            ran.push('slow');
            await gate.promise;
          },
        },
      ],
    });
    assert.equal(timers.pending.length, 1);
    assert.equal(timers.pending[0]?.ms, 5000);
    timers.fire();
    // The tick runs the built-in tasks first; wait until it reaches the slow one (it then holds the tick open).
    await waitFor('the slow task to start', () => (ran.includes('slow') ? true : undefined), {
      timeoutMs: 10_000,
      intervalMs: 5,
    });
    assert.deepEqual(ran, ['broken', 'slow']);
    assert.equal(timers.pending.length, 0, 'the next tick is scheduled only after this one ends');

    // stop() waits for the tick in progress.
    let stopped = false;
    const stopping = work.stop().then(() => {
      stopped = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(stopped, false);
    gate.resolve();
    await stopping;
    assert.equal(stopped, true);
    assert.equal(timers.pending.length, 0, 'no tick after stop');
    assert.ok(h.logLines.some((line) => line.includes('"task":"broken"') && line.includes('background task failed')));
  });

  test('a task that stops with work left runs again right after the tick, only it, until it is done', async () => {
    const timers = manualTimers();
    const ran: string[] = [];
    let backlog = 3;
    const work = startBackgroundWork(h.deps, {
      timers,
      intervalMs: 5000,
      extraTasks: [
        {
          name: 'batch',
          run: async () => {
            ran.push('batch');
            backlog--;
            return backlog > 0 ? 'more' : undefined;
          },
        },
        { name: 'other', run: async () => void ran.push('other') },
      ],
    });
    // A tick has ended when it has scheduled the next one.
    const tickEnded = () =>
      waitFor('the tick to end', () => (timers.pending.length > 0 ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 5,
      });
    timers.fire();
    await tickEnded();
    assert.deepEqual(ran, ['batch', 'other']);
    assert.equal(timers.pending[0]?.ms, 25, 'the backlog is taken up after the short nudge delay, not the interval');
    timers.fire();
    await tickEnded();
    assert.deepEqual(ran, ['batch', 'other', 'batch'], 'only the task with work left');
    assert.equal(timers.pending[0]?.ms, 25);
    timers.fire();
    await tickEnded();
    assert.deepEqual(ran, ['batch', 'other', 'batch', 'batch']);
    assert.equal(backlog, 0);
    assert.ok((timers.pending[0]?.ms ?? 0) > 25, 'done: back to the interval, not the nudge delay');
    await work.stop();
  });

  test('the health check finds a revoked consent before any send', async () => {
    const user = createUser(h.emulator.ctx, { email: 'worker-consent@contoso.com', password: DEMO_PASSWORD });
    const accountId = await h.connect(user);
    const work = startBackgroundWork(h.deps, { autoStart: false, random: () => 0 });
    try {
      revokeUserConsent(h.emulator.ctx, user, h.emulator.seed.app.clientId);
      await work.runOnce();
      assert.equal((await h.account(accountId)).status, 'connected', 'not due yet');
      h.advance(7 * HOUR);
      await work.runOnce();
      const row = await h.account(accountId);
      assert.deepEqual(
        { status: row.status, reason: row.status_reason },
        { status: 'reconnect_required', reason: 'consent_revoked' },
      );
      assert.equal(row.next_health_check_at, null);
    } finally {
      await work.stop();
    }
  });

  test('schedule repair gives an account without a schedule one; its keep-alive counts from the last refresh', async () => {
    const user = createUser(h.emulator.ctx, { email: 'worker-unscheduled@contoso.com', password: DEMO_PASSWORD });
    const accountId = await h.connect(user);
    const refreshedAt = (await h.account(accountId)).last_refreshed_at ?? 0;
    await h.deps.db
      .updateTable('accounts')
      .set({ next_keepalive_at: null, next_health_check_at: null })
      .where('id', '=', accountId)
      .execute();
    const work = startBackgroundWork(h.deps, { autoStart: false, random: () => 0 });
    try {
      await work.runOnce();
      const row = await h.account(accountId);
      assert.equal(row.next_keepalive_at, refreshedAt + 7 * 86_400_000);
      assert.equal(row.next_health_check_at, h.deps.clock.now() + 6 * HOUR * 1000);
    } finally {
      await work.stop();
    }
  });
});

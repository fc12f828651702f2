import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { inPoolTurn } from '../../src/warmup/pool-turns.js';

/** A step that records when it started and ended, taking `ms` in between. */
function recordingStep(log: string[], name: string, ms: number, fail = false) {
  return async () => {
    log.push(`${name} start`);
    await sleep(ms);
    log.push(`${name} end`);
    if (fail) throw new Error(`${name} failed`);
    return name;
  };
}

describe('pool turns: the steps that read the pool and write what they read it for', () => {
  test("one pool's steps run one after another, in the order they asked", async () => {
    const log: string[] = [];
    const results = await Promise.all([
      inPoolTurn('org_a', recordingStep(log, 'first', 20)),
      inPoolTurn('org_a', recordingStep(log, 'second', 1)),
      inPoolTurn('org_a', recordingStep(log, 'third', 5)),
    ]);
    assert.deepEqual(results, ['first', 'second', 'third']);
    assert.deepEqual(log, ['first start', 'first end', 'second start', 'second end', 'third start', 'third end']);
  });

  test("two pools' steps do not wait for each other", async () => {
    const log: string[] = [];
    await Promise.all([
      inPoolTurn('org_b', recordingStep(log, 'slow', 30)),
      inPoolTurn('org_c', recordingStep(log, 'quick', 1)),
    ]);
    assert.deepEqual(log, ['slow start', 'quick start', 'quick end', 'slow end']);
  });

  test('a step that fails fails its caller only; the next step still runs', async () => {
    const log: string[] = [];
    const failing = inPoolTurn('org_d', recordingStep(log, 'failing', 5, true));
    const next = inPoolTurn('org_d', recordingStep(log, 'next', 1));
    await assert.rejects(failing, /failing failed/);
    assert.equal(await next, 'next');
    assert.deepEqual(log, ['failing start', 'failing end', 'next start', 'next end']);
  });
});

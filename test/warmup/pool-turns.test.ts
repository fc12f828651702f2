import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inPoolTurn } from '../../src/warmup/pool-turns.js';

/** A step that logs its start, waits until the test opens its gate, then logs its end (or fails). */
function gatedStep(log: string[], name: string, fail = false) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const step = async () => {
    log.push(`${name} start`);
    await gate;
    log.push(`${name} end`);
    if (fail) throw new Error(`${name} failed`);
    return name;
  };
  return { step, open };
}

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('pool turns: the steps that read the pool and write what they read it for', () => {
  test("one pool's steps run one after another, in the order they asked", async () => {
    const log: string[] = [];
    const first = gatedStep(log, 'first');
    const second = gatedStep(log, 'second');
    const results = Promise.all([inPoolTurn('org_a', first.step), inPoolTurn('org_a', second.step)]);
    await settle();
    assert.deepEqual(log, ['first start'], 'the second waits while the first is held');
    second.open();
    await settle();
    assert.deepEqual(log, ['first start'], 'opening the second first does not let it start');
    first.open();
    assert.deepEqual(await results, ['first', 'second']);
    assert.deepEqual(log, ['first start', 'first end', 'second start', 'second end']);
  });

  test("two pools' steps do not wait for each other", async () => {
    const log: string[] = [];
    const held = gatedStep(log, 'held');
    const other = gatedStep(log, 'other');
    const heldResult = inPoolTurn('org_b', held.step);
    other.open();
    assert.equal(await inPoolTurn('org_c', other.step), 'other');
    assert.deepEqual(log, ['held start', 'other start', 'other end']);
    held.open();
    await heldResult;
  });

  test('a step that fails fails its caller only; the next step still runs', async () => {
    const log: string[] = [];
    const failing = gatedStep(log, 'failing', true);
    const next = gatedStep(log, 'next');
    const failed = inPoolTurn('org_d', failing.step);
    const after = inPoolTurn('org_d', next.step);
    failing.open();
    next.open();
    await assert.rejects(failed, /failing failed/);
    assert.equal(await after, 'next');
    assert.deepEqual(log, ['failing start', 'failing end', 'next start', 'next end']);
  });
});

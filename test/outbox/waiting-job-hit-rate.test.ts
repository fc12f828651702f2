import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WaitingJobHitRate } from '../../src/outbox/message-store.js';

/** When the one-statement accept is worth trying (src/outbox/message-store.ts `WaitingJobHitRate`). */
describe('the one-statement accept: tried while it pays', () => {
  const tries = (rate: WaitingJobHitRate, accepts: number, hit: boolean) => {
    let tried = 0;
    for (let n = 0; n < accepts; n++) {
      if (!rate.worthTrying()) continue;
      tried++;
      rate.record(hit);
    }
    return tried;
  };

  it('tried on every accept while at least a third find their job waiting', () => {
    const rate = new WaitingJobHitRate();
    let tried = 0;
    for (let n = 0; n < 300; n++) {
      if (!rate.worthTrying()) continue;
      tried++;
      rate.record(n % 2 === 0);
    }
    assert.equal(tried, 300);
  });

  it('after a run of misses, tried on one accept in ten; a run of hits brings it back to every accept', () => {
    const rate = new WaitingJobHitRate();
    assert.equal(tries(rate, 55, false), 55, 'a new process tries until 55 misses (0.98^55 < 1/3) say otherwise');
    assert.equal(tries(rate, 100, false), 10, 'then one in ten');
    let tried = 0;
    for (let n = 0; n < 200; n++) {
      if (!rate.worthTrying()) continue;
      tried++;
      rate.record(true);
    }
    assert.ok(tried > 150, `hits make it worth trying again (${tried} of 200 tried)`);
  });

  it('one in ten still when accepts are decided before earlier tries record (50 in flight)', () => {
    const rate = new WaitingJobHitRate();
    tries(rate, 55, false);
    // Fifty accepts at a time each decide before any of their tries answers, as concurrent requests do.
    let tried = 0;
    for (let round = 0; round < 20; round++) {
      const decided = Array.from({ length: 50 }, () => rate.worthTrying());
      for (const worth of decided.filter(Boolean)) {
        tried++;
        rate.record(!worth);
      }
    }
    assert.equal(tried, 100, `one accept in ten of 1,000 (${tried} tried)`);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  chance,
  integerBetween,
  keyedSource,
  keyedUnit,
  pickOne,
  seededSource,
  uniform,
  weightedIndex,
} from '../../src/warmup/seeded-random.js';

const take = (source: { next(): number }, n: number) => Array.from({ length: n }, () => source.next());

describe('seeded randomness', () => {
  test('the same seed gives the same sequence; another seed another', () => {
    assert.deepEqual(take(seededSource('s1'), 20), take(seededSource('s1'), 20));
    assert.notDeepEqual(take(seededSource('s1'), 20), take(seededSource('s2'), 20));
  });

  test('values lie in [0, 1) and spread evenly', () => {
    const values = take(seededSource('spread'), 20_000);
    assert.ok(values.every((v) => v >= 0 && v < 1));
    const buckets = new Array(10).fill(0);
    for (const v of values) buckets[Math.floor(v * 10)]++;
    for (const bucket of buckets) assert.ok(bucket > 1800 && bucket < 2200, `bucket ${bucket}`);
  });

  test('a keyed draw does not depend on what was drawn before, and the key parts stay apart', () => {
    const first = keyedUnit('seed', 'mbx_1', '2026-03-02');
    take(seededSource('seed'), 100);
    keyedUnit('seed', 'mbx_2', '2026-03-02');
    assert.equal(keyedUnit('seed', 'mbx_1', '2026-03-02'), first);
    assert.notEqual(keyedUnit('seed', 'ab', 'c'), keyedUnit('seed', 'a', 'bc'));
    assert.notEqual(keyedUnit('seed', 'mbx_1', '2026-03-03'), first);
    assert.deepEqual(take(keyedSource('seed', 'k', 1), 5), take(keyedSource('seed', 'k', 1), 5));
    assert.notDeepEqual(take(keyedSource('seed', 'k', 1), 5), take(keyedSource('seed', 'k', 2), 5));
  });

  test('helpers stay in their ranges', () => {
    const random = seededSource('helpers');
    for (let i = 0; i < 2000; i++) {
      const n = integerBetween(random, 3, 5);
      assert.ok(n >= 3 && n <= 5 && Number.isInteger(n));
      const u = uniform(random, 0.75, 1.1);
      assert.ok(u >= 0.75 && u < 1.1);
    }
    assert.equal(chance(random, 0), false);
    assert.equal(chance(random, 1), true);
    assert.throws(() => pickOne(random, []), RangeError);
  });

  test('weighted choice follows the weights and never picks a zero weight', () => {
    const random = seededSource('weights');
    const counts = [0, 0, 0];
    for (let i = 0; i < 10_000; i++) counts[weightedIndex(random, [1, 0, 3])]!++;
    assert.equal(counts[1], 0);
    assert.ok(counts[2]! / counts[0]! > 2.6 && counts[2]! / counts[0]! < 3.4, String(counts));
    assert.throws(() => weightedIndex(random, [0, 0]), RangeError);
    assert.throws(() => weightedIndex(random, [1, -1]), RangeError);
  });
});

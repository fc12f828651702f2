import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/platform/clock.js';
import { newId, randomToken } from '../../src/platform/ids.js';

describe('ids', () => {
  it('makes prefixed ids that sort by creation time and do not repeat', () => {
    const clock = new ManualClock(1_750_000_000_000);
    const ids: string[] = [];
    for (let i = 0; i < 200; i++) {
      clock.advance(1);
      ids.push(newId('acc', clock));
    }
    for (const id of ids) assert.match(id, /^acc_[0-9a-hjkmnp-tv-z]{26}$/);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
    // Several times the 256 ids that one draw of randomness serves: distinct across the draws too.
    const sameMs = Array.from({ length: 1000 }, () => newId('acc', clock));
    assert.equal(new Set(sameMs).size, 1000);
    assert.equal(new Set(sameMs.map((id) => id.slice(-16))).size, 1000);
    assert.throws(() => newId('Bad Prefix'));
  });

  it('makes random tokens of at least 128 bits', () => {
    assert.match(randomToken(), /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(randomToken(), randomToken());
    assert.throws(() => randomToken(8));
  });
});

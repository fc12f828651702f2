import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { localTime, timeZoneOrThrow } from '../../src/warmup/mailbox-time-zone.js';
import {
  biased,
  decideReceiveActions,
  type FoundWarmupMessage,
  mailboxBias,
  type ReceiveAction,
  type ReceiverContext,
} from '../../src/warmup/receive-decisions.js';
import { seededSource } from '../../src/warmup/seeded-random.js';
import { warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';

const settings = warmupSettingsOrThrow('microsoft365');
const MINUTE = 60_000;
const zone = timeZoneOrThrow('America/New_York');
/** Tuesday 2026-03-03 10:00 in New York. */
const MORNING = Date.UTC(2026, 2, 3, 15, 0);

const message = (overrides: Partial<FoundWarmupMessage> = {}): FoundWarmupMessage => ({
  landedIn: 'inbox',
  receivedAt: MORNING,
  foundAt: MORNING,
  turn: 0,
  plannedTurns: 5,
  ...overrides,
});
const context = (seed: string, overrides: Partial<ReceiverContext> = {}): ReceiverContext => ({
  zone,
  bias: 0,
  canReply: true,
  random: seededSource(seed),
  ...overrides,
});
const find = (actions: readonly ReceiveAction[], kind: ReceiveAction['kind']) => actions.filter((a) => a.kind === kind);

/** How often each action happens over `n` messages. */
function rates(n: number, found: Partial<FoundWarmupMessage>, ctx: Partial<ReceiverContext> = {}) {
  const counts = new Map<string, number>();
  const shared = context('rates', ctx);
  for (let i = 0; i < n; i++) {
    for (const action of decideReceiveActions(message(found), shared, settings)) {
      counts.set(action.kind, (counts.get(action.kind) ?? 0) + 1);
    }
  }
  return (kind: string) => (counts.get(kind) ?? 0) / n;
}

const near = (actual: number, expected: number, name: string) =>
  assert.ok(Math.abs(actual - expected) < 0.03, `${name}: ${actual.toFixed(3)} vs ${expected}`);

describe('receive-side decisions (§E)', () => {
  test('probabilities without bias: rescue 0.9 of Junk, read 0.9, flag 0.15, important 0.2, reply 0.3', () => {
    const junk = rates(4000, { landedIn: 'junkemail' });
    near(junk('move_to_inbox'), 0.9, 'rescue');
    near(junk('mark_read'), 0.9, 'read');
    near(junk('flag'), 0.15, 'flag');
    near(junk('mark_important'), 0.2, 'important');
    near(junk('reply'), 0.3, 'reply');
    assert.equal(junk('file_to_warmup_folder'), 1);
    assert.equal(junk('record_placement'), 1);
    assert.equal(junk('purge'), 1);
  });

  test('mail in the Inbox is never "rescued"', () => {
    assert.equal(rates(3000, { landedIn: 'inbox' })('move_to_inbox'), 0);
  });

  const BIAS: [string, number, number][] = [
    ['+20% bias', 0.2, 0.36],
    ['−20% bias', -0.2, 0.24],
  ];
  for (const [name, bias, reply] of BIAS) {
    test(`${name} moves every probability, capped at 1`, () => {
      const r = rates(4000, { landedIn: 'junkemail' }, { bias });
      near(r('reply'), reply, 'reply');
      near(r('flag'), 0.15 * (1 + bias), 'flag');
      near(r('move_to_inbox'), Math.min(1, 0.9 * (1 + bias)), 'rescue');
    });
  }

  test('the bias clamps and is fixed per mailbox within ±20%', () => {
    assert.equal(biased(0.9, 0.2), 1);
    assert.equal(biased(0.3, -0.2), 0.24);
    assert.equal(biased(0, 0.2), 0);
    assert.equal(mailboxBias('s', 'mbx_1', settings), mailboxBias('s', 'mbx_1', settings));
    const biases = Array.from({ length: 2000 }, (_, i) => mailboxBias('s', `mbx_${i}`, settings));
    assert.ok(biases.every((b) => b >= -0.2 && b <= 0.2));
    assert.ok(Math.min(...biases) < -0.19 && Math.max(...biases) > 0.19);
  });

  test('a reply continues the thread: 0.5 per further turn, none after the last planned turn or when it may not send', () => {
    near(rates(4000, { turn: 1 })('reply'), 0.5, 'further turn');
    assert.equal(rates(500, { turn: 2, plannedTurns: 3 })('reply'), 0, 'turn 3 of 3 is the last');
    assert.equal(rates(500, { turn: 4, plannedTurns: 5 })('reply'), 0, 'turn 5 of 5 is the last');
    assert.equal(rates(500, { turn: 0 }, { canReply: false })('reply'), 0, 'receive-only');
    for (let i = 0; i < 200; i++) {
      for (const reply of find(decideReceiveActions(message({ turn: 2 }), context(`t${i}`), settings), 'reply')) {
        assert.equal((reply as { turn: number }).turn, 3);
      }
    }
  });

  test('timing: placement first, read 1–60 min after delivery (mostly short), filed after the last touch, purged 30 days later', () => {
    const readDelays: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const actions = decideReceiveActions(message({ landedIn: 'junkemail' }), context(`d${i}`), settings);
      assert.deepEqual(actions[0], { kind: 'record_placement', at: MORNING, folder: 'junkemail' });
      const times = actions.map((a) => a.at);
      assert.deepEqual(
        times,
        [...times].sort((a, b) => a - b),
        'in time order',
      );
      const read = find(actions, 'mark_read')[0];
      const rescue = find(actions, 'move_to_inbox')[0];
      if (read && rescue) assert.equal(rescue.at, read.at, 'rescued as it is opened');
      if (read) {
        const delay = (read.at - MORNING) / MINUTE;
        assert.ok(delay >= 1 && delay <= 60, `${delay}`);
        readDelays.push(delay);
      }
      const [file] = find(actions, 'file_to_warmup_folder');
      const touches = actions.filter((a) => ['mark_read', 'flag', 'mark_important', 'move_to_inbox'].includes(a.kind));
      for (const touch of touches) assert.ok(file!.at > touch.at);
      assert.equal(find(actions, 'purge')[0]!.at, file!.at + 30 * 86_400_000);
      for (const reply of find(actions, 'reply')) {
        const wait = (reply.at - MORNING) / MINUTE;
        assert.ok(wait >= 45 && wait <= 24 * 60 + 12 * 60, `${wait}`);
        const local = localTime(reply.at, zone).minuteOfDay;
        assert.ok(local >= 7 * 60 && local < 22 * 60, 'replies in waking hours');
      }
    }
    readDelays.sort((a, b) => a - b);
    assert.ok(readDelays[Math.floor(readDelays.length / 2)]! < 20, 'median read delay is short');
  });

  const NIGHTS: [string, number, string][] = [
    ['delivered at 03:00', Date.UTC(2026, 2, 3, 8, 0), '2026-03-03'],
    ['delivered at 23:30', Date.UTC(2026, 2, 4, 4, 30), '2026-03-04'],
    ['delivered at 03:30 on the spring-forward night', Date.UTC(2026, 2, 8, 7, 30), '2026-03-08'],
  ];
  for (const [name, receivedAt, day] of NIGHTS) {
    test(`nobody reads at night: ${name}`, () => {
      for (let i = 0; i < 100; i++) {
        const actions = decideReceiveActions(message({ receivedAt, foundAt: receivedAt }), context(`n${i}`), settings);
        for (const read of find(actions, 'mark_read')) {
          const local = localTime(read.at, zone);
          assert.equal(local.date, day);
          assert.ok(local.minuteOfDay >= 7 * 60 && local.minuteOfDay < 7 * 60 + 30, `${local.minuteOfDay}`);
        }
      }
    });
  }

  test('found later than delivered: nothing happens before it was found', () => {
    const foundAt = MORNING + 3 * 60 * MINUTE;
    for (let i = 0; i < 100; i++) {
      const actions = decideReceiveActions(message({ foundAt }), context(`f${i}`), settings);
      assert.ok(actions.every((a) => a.at >= foundAt));
    }
    assert.throws(() => decideReceiveActions(message({ foundAt: MORNING - 1 }), context('x'), settings), RangeError);
  });

  test('the same seed decides the same', () => {
    const found = message({ landedIn: 'junkemail' });
    assert.deepEqual(
      decideReceiveActions(found, context('same'), settings),
      decideReceiveActions(found, context('same'), settings),
    );
  });
});

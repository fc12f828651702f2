import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { localTime, parseLocalDate, timeZoneOrThrow } from '../../src/warmup/mailbox-time-zone.js';
import { seededSource } from '../../src/warmup/seeded-random.js';
import {
  earliestSendAt,
  planSendSlots,
  sameTimeNextWorkingDay,
  withinSendingDay,
} from '../../src/warmup/send-slots.js';
import { warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';

const settings = warmupSettingsOrThrow('microsoft365');
const MINUTE = 60_000;

const DAYS: [string, string, string][] = [
  ['an ordinary Monday in New York', '2026-03-02', 'America/New_York'],
  ['New York springs forward', '2026-03-08', 'America/New_York'],
  ['New York falls back', '2026-11-01', 'America/New_York'],
  ['London springs forward', '2026-03-29', 'Europe/London'],
  ['Sydney falls back', '2026-04-05', 'Australia/Sydney'],
  ['Santiago loses its midnight', '2026-09-06', 'America/Santiago'],
  ['Kathmandu (+05:45)', '2026-03-02', 'Asia/Kathmandu'],
  ['from a Windows name', '2026-03-02', 'Pacific Standard Time'],
];

describe('send slots (§B)', () => {
  for (const [name, day, zoneName] of DAYS) {
    test(`slots keep every rule: ${name}`, () => {
      const zone = timeZoneOrThrow(zoneName);
      const date = parseLocalDate(day)!;
      for (const count of [1, 4, 20, 40, 46]) {
        for (let seed = 0; seed < 15; seed++) {
          const plan = planSendSlots({ count, date, zone, random: seededSource(`${day}${count}${seed}`) }, settings);
          assert.equal(plan.slots.length, count);
          assert.equal(plan.unplaced, 0);
          plan.slots.forEach((slot, i) => {
            const local = localTime(slot, zone);
            assert.equal(local.date, day);
            assert.ok(local.minuteOfDay >= 8 * 60 + 30 && local.minuteOfDay <= 18 * 60, `${local.minuteOfDay}`);
            assert.notEqual(local.minuteOfDay % 30, 0, 'never on :00 or :30');
            if (i > 0) assert.ok(slot - plan.slots[i - 1]! >= 12 * MINUTE, 'at least 12 min apart');
          });
        }
      }
    });
  }

  test('the same seed gives the same slots; slots spread over the day rather than bunching', () => {
    const zone = timeZoneOrThrow('Europe/Berlin');
    const date = parseLocalDate('2026-03-03')!;
    const a = planSendSlots({ count: 10, date, zone, random: seededSource('x') }, settings);
    const b = planSendSlots({ count: 10, date, zone, random: seededSource('x') }, settings);
    const c = planSendSlots({ count: 10, date, zone, random: seededSource('y') }, settings);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    const minutes = a.slots.map((slot) => localTime(slot, zone).minuteOfDay);
    assert.ok(minutes[0]! < 9 * 60 + 30 && minutes.at(-1)! > 17 * 60, JSON.stringify(minutes));
  });

  test('jitter: the first of two slots moves within ±15 min of its even spot', () => {
    const zone = timeZoneOrThrow('Etc/UTC');
    const date = parseLocalDate('2026-03-03')!;
    const seen = new Set<number>();
    for (let seed = 0; seed < 200; seed++) {
      const [first] = planSendSlots({ count: 2, date, zone, random: seededSource(`j${seed}`) }, settings).slots;
      const minute = localTime(first!, zone).minuteOfDay;
      seen.add(minute);
      // The even spot of slot 1 of 2 is a quarter into the 551 allowed minutes (≈ 10:51 real).
      assert.ok(minute >= 10 * 60 + 30 && minute <= 11 * 60 + 15, `${minute}`);
    }
    assert.ok(seen.size > 15, 'jitter varies the time');
  });

  test('more slots than the window holds: as many as fit, the rest reported', () => {
    const plan = planSendSlots(
      { count: 60, date: parseLocalDate('2026-03-03')!, zone: timeZoneOrThrow('Etc/UTC'), random: seededSource('m') },
      settings,
    );
    assert.equal(plan.slots.length, 46);
    assert.equal(plan.unplaced, 14);
  });

  test('planned during the day: nothing in the past; after the window or the date: nothing', () => {
    const zone = timeZoneOrThrow('America/New_York');
    const date = parseLocalDate('2026-03-03')!;
    const noon = Date.UTC(2026, 2, 3, 17, 0); // 12:00 in New York
    const plan = planSendSlots({ count: 8, date, zone, random: seededSource('n'), notBefore: noon }, settings);
    assert.equal(plan.slots.length, 8);
    assert.ok(plan.slots.every((slot) => slot > noon));
    const evening = Date.UTC(2026, 2, 3, 23, 30); // 18:30
    assert.deepEqual(planSendSlots({ count: 3, date, zone, random: seededSource('n'), notBefore: evening }, settings), {
      slots: [],
      unplaced: 3,
    });
    const tomorrow = Date.UTC(2026, 2, 4, 14, 0);
    assert.equal(
      planSendSlots({ count: 3, date, zone, random: seededSource('n'), notBefore: tomorrow }, settings).unplaced,
      3,
    );
    const yesterday = Date.UTC(2026, 2, 2, 14, 0);
    assert.equal(
      planSendSlots({ count: 3, date, zone, random: seededSource('n'), notBefore: yesterday }, settings).slots.length,
      3,
    );
  });

  test('zero slots, and a bad count refused', () => {
    const base = { date: parseLocalDate('2026-03-03')!, zone: timeZoneOrThrow('Etc/UTC'), random: seededSource('z') };
    assert.deepEqual(planSendSlots({ ...base, count: 0 }, settings), { slots: [], unplaced: 0 });
    assert.throws(() => planSendSlots({ ...base, count: -1 }, settings), RangeError);
    assert.throws(() => planSendSlots({ ...base, count: 1.5 }, settings), RangeError);
  });

  const T = Date.UTC(2026, 2, 3, 12, 0);
  const SENDS: [string, number, number[], number][] = [
    ['nothing scheduled', T, [], T],
    ['exactly 10 min after the last send', T, [T - 10 * MINUTE], T],
    ['9 min after the last send waits a minute', T, [T - 9 * MINUTE], T + MINUTE],
    ['a send 5 min later pushes past it', T, [T + 5 * MINUTE], T + 15 * MINUTE],
    ['a chain of sends pushes past all of them', T, [T + 20 * MINUTE, T, T + 10 * MINUTE], T + 30 * MINUTE],
    ['a gap of exactly 20 min between two sends fits', T, [T - 10 * MINUTE, T + 10 * MINUTE], T],
  ];
  for (const [name, wanted, scheduled, expected] of SENDS) {
    test(`one warm-up send per 10 min: ${name}`, () =>
      assert.equal(earliestSendAt(wanted, scheduled, settings), expected));
  }
});

describe('a send that missed its day (§B: never after hours)', () => {
  const zone = timeZoneOrThrow('America/New_York');
  // Friday 2026-03-06, 17:55 and 18:07 in New York (UTC−5).
  const friday1755 = Date.UTC(2026, 2, 6, 22, 55);
  const friday1807 = Date.UTC(2026, 2, 6, 23, 7);

  test('may still go on its date before the window closes, not at or after 18:00 nor on another date', () => {
    assert.equal(withinSendingDay('2026-03-06', friday1755, zone, settings), true);
    assert.equal(withinSendingDay('2026-03-06', friday1807, zone, settings), false);
    assert.equal(withinSendingDay('2026-03-05', friday1755, zone, settings), false);
  });

  test('moves to the next working day at the same time of day, or wrapped into the window from the evening', () => {
    const monday = sameTimeNextWorkingDay(friday1755, zone, settings);
    assert.deepEqual(localTime(monday, zone), { date: '2026-03-09', minuteOfDay: 17 * 60 + 55, weekday: 1 });
    // 18:07 is 577 minutes after 08:30; the window is 570 minutes long: 08:37.
    const late = sameTimeNextWorkingDay(friday1807, zone, settings);
    assert.deepEqual(localTime(late, zone), { date: '2026-03-09', minuteOfDay: 8 * 60 + 37, weekday: 1 });
    const early = sameTimeNextWorkingDay(Date.UTC(2026, 2, 6, 11, 0), zone, settings); // 06:00 local
    assert.deepEqual(localTime(early, zone), { date: '2026-03-09', minuteOfDay: 15 * 60 + 30, weekday: 1 });
    const weekends = warmupSettingsOrThrow('microsoft365', { weekends: true });
    assert.equal(localTime(sameTimeNextWorkingDay(friday1755, zone, weekends), zone).date, '2026-03-07');
  });
});

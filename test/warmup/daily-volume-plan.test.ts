import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type DailyVolumeInput,
  dailyFactor,
  effectiveCeiling,
  planDailyVolume,
  rampAfterPause,
  rampValue,
  splitTarget,
} from '../../src/warmup/daily-volume-plan.js';
import {
  addDays,
  type LocalDate,
  localTime,
  parseLocalDate,
  timeZoneOrThrow,
} from '../../src/warmup/mailbox-time-zone.js';
import { warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';

const m365 = warmupSettingsOrThrow('microsoft365');
const outlook = warmupSettingsOrThrow('outlook_com');
const MONDAY = parseLocalDate('2026-03-02')!;
const SATURDAY = parseLocalDate('2026-03-07')!;

const input = (overrides: Partial<DailyVolumeInput> = {}): DailyVolumeInput => ({
  seed: 'plan',
  mailboxId: 'mbx_a',
  date: MONDAY,
  ramp: { day: 1, from: 4 },
  status: 'active',
  accountAgeDays: 400,
  eligiblePartners: 100,
  campaignSentToday: 0,
  ...overrides,
});

/** A date on which the mailbox's daily factor is (or is not) a light day, found by scanning weekdays. */
function weekdayWhere(settings: typeof m365, predicate: (f: { factor: number; lightDay: boolean }) => boolean) {
  for (let i = 0; i < 400; i++) {
    const day = addDays(MONDAY, i) as LocalDate;
    if (new Date(`${day}T00:00:00Z`).getUTCDay() % 6 === 0) continue;
    if (predicate(dailyFactor('plan', 'mbx_a', day, settings))) return day;
  }
  throw new Error('no such day');
}

describe('daily volume plan (§A)', () => {
  const RAMP: [string, typeof m365, number, number, number][] = [
    ['M365 day 1', m365, 1, 4, 4],
    ['M365 day 2', m365, 2, 4, 5],
    ['M365 day 16 reaches the ceiling', m365, 17, 4, 20],
    ['M365 day 40 stays at the ceiling', m365, 40, 4, 20],
    ['Outlook day 1', outlook, 1, 2, 2],
    ['Outlook day 2 (every 2 days)', outlook, 2, 2, 2],
    ['Outlook day 3', outlook, 3, 2, 3],
    ['Outlook day 18', outlook, 18, 2, 10],
    ['after a long pause from 8', m365, 1, 8, 8],
  ];
  for (const [name, settings, day, from, expected] of RAMP) {
    test(`T0: ${name}`, () => assert.equal(rampValue({ day, from }, settings.volume.ceiling, settings), expected));
  }
  test('T0 refuses a day before the first', () => assert.throws(() => rampValue({ day: 0, from: 4 }, 20, m365)));

  const CEILINGS: [string, typeof m365, number | null, number][] = [
    ['Outlook under 30 days', outlook, 29, 10],
    ['Outlook at exactly 30 days', outlook, 30, 15],
    ['Outlook of unknown age counts as young', outlook, null, 10],
    ['M365 has no age ceiling', m365, 1, 20],
    [
      'a user ceiling of 40 still capped while young',
      warmupSettingsOrThrow('outlook_com', { dailyCeiling: 40 }),
      5,
      10,
    ],
    ['a user ceiling of 40 once old', warmupSettingsOrThrow('outlook_com', { dailyCeiling: 40 }), 31, 40],
  ];
  for (const [name, settings, age, expected] of CEILINGS) {
    test(`ceiling: ${name}`, () => assert.equal(effectiveCeiling(settings, age), expected));
  }

  test('the daily factor is 0.6 on ~15% of days, else in [0.75, 1.10], and stable per (mailbox, date)', () => {
    let light = 0;
    const n = 5000;
    for (let i = 0; i < n; i++) {
      const f = dailyFactor('seed', `mbx_${i}`, MONDAY, m365);
      if (f.lightDay) {
        light++;
        assert.equal(f.factor, 0.6);
      } else assert.ok(f.factor >= 0.75 && f.factor <= 1.1, String(f.factor));
    }
    assert.ok(light / n > 0.13 && light / n < 0.17, `${light}`);
    assert.deepEqual(dailyFactor('seed', 'mbx_1', MONDAY, m365), dailyFactor('seed', 'mbx_1', MONDAY, m365));
  });

  test("the factor follows the mailbox's local date: one instant, two dates, two factors", () => {
    const instant = Date.UTC(2026, 2, 3, 5, 0); // Monday 21:00 in Los Angeles, Tuesday 18:00 in Auckland
    const la = localTime(instant, timeZoneOrThrow('Pacific Standard Time')).date;
    const auckland = localTime(instant, timeZoneOrThrow('Pacific/Auckland')).date;
    assert.deepEqual([la, auckland], ['2026-03-02', '2026-03-03']);
    assert.deepEqual(dailyFactor('plan', 'mbx_a', la, m365), dailyFactor('plan', 'mbx_a', MONDAY, m365));
    assert.notDeepEqual(dailyFactor('plan', 'mbx_a', auckland, m365), dailyFactor('plan', 'mbx_a', la, m365));
  });

  test('T = max(start, round(T0 · f)) on an ordinary and a light day, never above the ceiling', () => {
    const ordinary = weekdayWhere(m365, (f) => !f.lightDay);
    const { factor } = dailyFactor('plan', 'mbx_a', ordinary, m365);
    const plan = planDailyVolume(input({ date: ordinary, ramp: { day: 7, from: 4 } }), m365);
    assert.equal(plan.t0, 10);
    assert.equal(plan.target, Math.max(4, Math.round(10 * factor)));
    const lightDay = weekdayWhere(m365, (f) => f.lightDay);
    const light = planDailyVolume(input({ date: lightDay, ramp: { day: 7, from: 4 } }), m365);
    assert.equal(light.target, 6);
    assert.ok(light.limitedBy.includes('light_day'));
    const dayOne = planDailyVolume(input({ date: lightDay, ramp: { day: 1, from: 4 } }), m365);
    assert.equal(dayOne.target, 4, 'start is the floor: round(4 · 0.6) = 2 < 4');
    const high = weekdayWhere(m365, (f) => f.factor > 1.05);
    assert.equal(planDailyVolume(input({ date: high, ramp: { day: 30, from: 4 } }), m365).target, 20);
  });

  const lightDay = weekdayWhere(m365, (f) => f.lightDay);
  const CASES: [string, Partial<DailyVolumeInput>, typeof m365, number, string[]][] = [
    ['health watch ×0.7', { date: lightDay, ramp: { day: 17, from: 4 }, status: 'watch' }, m365, 8, ['health_watch']],
    [
      'throttled ×0.5',
      { date: lightDay, ramp: { day: 17, from: 4 }, status: 'throttled' },
      m365,
      6,
      ['health_throttled'],
    ],
    [
      'throttled at start 2 keeps one',
      { ramp: { day: 1, from: 2 }, status: 'throttled' },
      outlook,
      1,
      ['health_throttled'],
    ],
    ['probation sends the start volume', { ramp: { day: 17, from: 4 }, status: 'probation' }, m365, 4, ['probation']],
    ['weekend off by default', { date: SATURDAY, ramp: { day: 17, from: 4 } }, m365, 0, ['weekend_off']],
    ['partner pool smaller than T', { ramp: { day: 17, from: 4 }, eligiblePartners: 3 }, m365, 3, ['partners']],
    ['no eligible partner at all', { ramp: { day: 17, from: 4 }, eligiblePartners: 0 }, m365, 0, ['partners']],
    [
      'young mailbox: 50 a day with campaign mail',
      { ramp: { day: 30, from: 4 }, accountAgeDays: 59, campaignSentToday: 45 },
      m365,
      5,
      ['young_mailbox_cap'],
    ],
    [
      'young mailbox: campaign already over 50',
      { ramp: { day: 30, from: 4 }, accountAgeDays: 10, campaignSentToday: 70 },
      m365,
      0,
      ['young_mailbox_cap'],
    ],
    [
      'a 60-day-old mailbox is no longer capped',
      { date: lightDay, ramp: { day: 17, from: 4 }, accountAgeDays: 60, campaignSentToday: 45 },
      m365,
      12,
      ['light_day'],
    ],
    [
      'young Outlook account ceiling',
      { ramp: { day: 40, from: 2 }, accountAgeDays: 20 },
      outlook,
      -1,
      ['young_account_ceiling'],
    ],
    [
      'receive-only sends nothing',
      { ramp: { day: 17, from: 4 } },
      warmupSettingsOrThrow('microsoft365', { receiveOnly: true }),
      0,
      ['receive_only'],
    ],
  ];
  for (const [name, overrides, settings, expected, limits] of CASES) {
    test(`plan: ${name}`, () => {
      const plan = planDailyVolume(input(overrides), settings);
      if (expected >= 0) assert.equal(plan.target, expected);
      for (const limit of limits) assert.ok(plan.limitedBy.includes(limit as never), JSON.stringify(plan));
    });
  }

  test('young Outlook account: never above 10 whatever the factor', () => {
    for (let i = 0; i < 60; i++) {
      const plan = planDailyVolume(
        input({ mailboxId: `mbx_${i}`, ramp: { day: 40, from: 2 }, accountAgeDays: 20 }),
        outlook,
      );
      assert.ok(plan.target <= 10 && plan.target >= 2, JSON.stringify(plan));
    }
  });

  test('weekends at 25% when enabled, at least one', () => {
    const weekends = warmupSettingsOrThrow('microsoft365', { weekends: true });
    const plan = planDailyVolume(input({ date: SATURDAY, ramp: { day: 1, from: 4 } }), weekends);
    assert.equal(plan.target, 1);
    assert.ok(plan.limitedBy.includes('weekend'));
    const later = planDailyVolume(input({ date: SATURDAY, ramp: { day: 40, from: 4 } }), weekends);
    const { factor } = dailyFactor('plan', 'mbx_a', SATURDAY, weekends);
    assert.equal(later.target, Math.max(1, Math.round(Math.min(20, Math.max(4, Math.round(20 * factor))) * 0.25)));
  });

  test('replies count toward T', () => {
    assert.deepEqual(splitTarget(8, 3), { replies: 3, newThreads: 5 });
    assert.deepEqual(splitTarget(4, 9), { replies: 4, newThreads: 0 });
    assert.deepEqual(splitTarget(0, 2), { replies: 0, newThreads: 0 });
  });

  const PAUSES: [string, number, number, { day: number; from: number }][] = [
    ['a 14-day pause continues the ramp', 14, 16, { day: 9, from: 4 }],
    ['a 15-day pause ramps again from half', 15, 16, { day: 1, from: 8 }],
    ['half of a small target is floored at start', 30, 5, { day: 1, from: 4 }],
  ];
  for (const [name, pausedDays, previousTarget, expected] of PAUSES) {
    test(`re-entry: ${name}`, () =>
      assert.deepEqual(rampAfterPause({ day: 9, from: 4 }, previousTarget, pausedDays, m365), expected));
  }
});

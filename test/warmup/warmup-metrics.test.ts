import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { healthScore, type WarmupObservation, warmupMetrics } from '../../src/warmup/warmup-metrics.js';
import { warmupSettingsOrThrow } from '../../src/warmup/warmup-settings.js';

const settings = warmupSettingsOrThrow('microsoft365');
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 2, 31, 12);
const STARTED = NOW - 40 * DAY;
const daysAgo = (days: number) => NOW - days * DAY;

const repeat = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));

describe('warm-up metrics (§F)', () => {
  test('counts and rates over the 7- and 30-day windows; the window edge is outside', () => {
    const observations: WarmupObservation[] = [
      ...repeat(10, () => ({ kind: 'sent' as const, at: daysAgo(1), reply: false })),
      ...repeat(4, () => ({ kind: 'sent' as const, at: daysAgo(2), reply: true })),
      ...repeat(6, () => ({ kind: 'sent' as const, at: daysAgo(20), reply: false })),
      { kind: 'sent', at: daysAgo(7), reply: false }, // exactly 7 days ago: only in the 30-day window
      { kind: 'sent', at: daysAgo(31), reply: false }, // outside both
      ...repeat(9, () => ({ kind: 'placement' as const, at: daysAgo(1), folder: 'inbox' as const })),
      ...repeat(3, () => ({ kind: 'placement' as const, at: daysAgo(1), folder: 'junkemail' as const })),
      ...repeat(4, () => ({ kind: 'placement' as const, at: daysAgo(20), folder: 'junkemail' as const })),
      ...repeat(2, () => ({ kind: 'rescued' as const, at: daysAgo(1) })),
      ...repeat(5, () => ({ kind: 'received' as const, at: daysAgo(3) })),
      { kind: 'bounce', at: daysAgo(2) },
      { kind: 'sent', at: NOW + 1, reply: false }, // the future is not counted
    ];
    const week = warmupMetrics(observations, { now: NOW, windowDays: 7, startedAt: STARTED }, settings);
    assert.deepEqual(
      { ...week, health: undefined },
      {
        scope: 'warmup_network',
        windowDays: 7,
        sent: 14,
        received: 5,
        replies: 4,
        observed: 12,
        inboxRate: 0.75,
        spamRate: 0.25,
        savedFromSpam: 2,
        bounces: 1,
        bounceRate: 1 / 14,
        complaints: 0,
        coverage: 12 / 14,
        health: undefined,
      },
    );
    const month = warmupMetrics(observations, { now: NOW, windowDays: 30, startedAt: STARTED }, settings);
    assert.equal(month.sent, 21);
    assert.equal(month.observed, 16);
    assert.equal(month.inboxRate, 9 / 16);
    assert.equal(month.coverage, 16 / 21);
  });

  test('nothing observed: rates are null, not zero', () => {
    const empty = warmupMetrics([], { now: NOW, windowDays: 7, startedAt: STARTED }, settings);
    assert.equal(empty.inboxRate, null);
    assert.equal(empty.spamRate, null);
    assert.equal(empty.bounceRate, null);
    assert.equal(empty.coverage, null);
    assert.equal(empty.health, null);
    assert.equal(empty.sent, 0);
  });

  const inbox = (n: number, at: number) => repeat(n, () => ({ at, folder: 'inbox' as const }));
  const junk = (n: number, at: number) => repeat(n, () => ({ at, folder: 'junkemail' as const }));
  const facts = (overrides: Partial<{ startedAt: number; bounceRate: number | null; complaints: number }> = {}) => ({
    now: NOW,
    startedAt: STARTED,
    bounceRate: 0,
    complaints: 0,
    ...overrides,
  });

  const HEALTH: [string, { at: number; folder: 'inbox' | 'junkemail' }[], ReturnType<typeof facts>, number | null][] = [
    ['all in the Inbox', inbox(20, daysAgo(1)), facts(), 100],
    ['half and half on the same day', [...inbox(10, daysAgo(1)), ...junk(10, daysAgo(1))], facts(), 50],
    // Junk 3 days older weighs half: inbox 10·1 / (10·1 + 10·0.5) = 2/3.
    ['older Junk weighs half after 3 days', [...inbox(10, NOW), ...junk(10, daysAgo(3))], facts(), 67],
    ['1% bounces cost 10 points', inbox(20, NOW), facts({ bounceRate: 0.01 }), 90],
    ['one complaint costs 25', inbox(20, NOW), facts({ complaints: 1 }), 75],
    ['never below 0', junk(20, NOW), facts({ complaints: 2 }), 0],
    ['19 observations on day 2: not yet', inbox(19, NOW), facts({ startedAt: NOW - 2 * DAY }), null],
    ['20 observations on day 2: shown', inbox(20, NOW), facts({ startedAt: NOW - 2 * DAY }), 100],
    ['5 observations after exactly 3 days: shown', inbox(5, NOW), facts({ startedAt: NOW - 3 * DAY }), 100],
    ['3 days but nothing observed: nothing to show', [], facts(), null],
  ];
  for (const [name, placements, given, expected] of HEALTH) {
    test(`health: ${name}`, () => assert.equal(healthScore(placements, given, settings), expected));
  }
});

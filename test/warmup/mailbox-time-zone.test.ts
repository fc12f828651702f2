import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  addDays,
  daysBetween,
  instantOf,
  isWeekend,
  type LocalDate,
  localTime,
  parseLocalDate,
  resolveTimeZone,
  startOfLocalDay,
  timeZoneOrThrow,
  utcOffsetMinutes,
  WINDOWS_TIME_ZONES,
} from '../../src/warmup/mailbox-time-zone.js';

const date = (value: string) => parseLocalDate(value)!;
const iso = (ms: number) => new Date(ms).toISOString();

describe('mailbox time zone', () => {
  const RESOLVE: [string, string | null, 'iana' | 'windows' | null][] = [
    ['Pacific Standard Time', 'America/Los_Angeles', 'windows'],
    ['W. Europe Standard Time', 'Europe/Berlin', 'windows'],
    ['India Standard Time', 'Asia/Kolkata', 'windows'],
    ['  GMT Standard Time ', 'Europe/London', 'windows'],
    ['UTC', 'Etc/UTC', 'windows'],
    ['Europe/Paris', 'Europe/Paris', 'iana'],
    ['America/Argentina/Buenos_Aires', 'America/Argentina/Buenos_Aires', 'iana'],
    ['Customized Time Zone', null, null],
    ['', null, null],
    ['EST', null, null],
    ['Mars/Olympus_Mons', null, null],
  ];
  for (const [name, zone, from] of RESOLVE) {
    test(`resolves "${name}"`, () => {
      const result = resolveTimeZone(name);
      if (zone === null) assert.equal(result.ok, false);
      else assert.deepEqual(result, { ok: true, zone, from });
    });
  }

  test('every mapped Windows zone is one Intl knows', () => {
    for (const [windows, iana] of Object.entries(WINDOWS_TIME_ZONES)) {
      assert.ok(resolveTimeZone(iana).ok, `${windows} → ${iana}`);
    }
  });

  test('local time of an instant, across the date line and a half-hour offset', () => {
    const instant = Date.UTC(2026, 2, 2, 23, 45); // Monday 23:45 UTC
    assert.deepEqual(localTime(instant, timeZoneOrThrow('Pacific/Auckland')), {
      date: '2026-03-03',
      minuteOfDay: 12 * 60 + 45,
      weekday: 2,
    });
    assert.deepEqual(localTime(instant, timeZoneOrThrow('America/Los_Angeles')), {
      date: '2026-03-02',
      minuteOfDay: 15 * 60 + 45,
      weekday: 1,
    });
    assert.equal(localTime(instant, timeZoneOrThrow('Asia/Kolkata')).minuteOfDay, 5 * 60 + 15);
    assert.equal(utcOffsetMinutes(instant, timeZoneOrThrow('Asia/Kathmandu')), 345);
  });

  const ny = timeZoneOrThrow('America/New_York');
  const INSTANTS: [string, LocalDate, number, string, string][] = [
    ['an ordinary day', date('2026-03-02'), 8 * 60 + 30, 'America/New_York', '2026-03-02T13:30:00.000Z'],
    [
      'spring forward, after the change',
      date('2026-03-08'),
      8 * 60 + 30,
      'America/New_York',
      '2026-03-08T12:30:00.000Z',
    ],
    [
      'spring forward, a missing wall time moves on',
      date('2026-03-08'),
      150,
      'America/New_York',
      '2026-03-08T07:30:00.000Z',
    ],
    [
      'fall back, a repeated wall time is the earlier',
      date('2026-11-01'),
      90,
      'America/New_York',
      '2026-11-01T05:30:00.000Z',
    ],
    ['fall back, after the change', date('2026-11-01'), 18 * 60, 'America/New_York', '2026-11-01T23:00:00.000Z'],
    ['London on its spring change', date('2026-03-29'), 8 * 60 + 30, 'Europe/London', '2026-03-29T07:30:00.000Z'],
    ['Santiago loses its midnight', date('2026-09-06'), 0, 'America/Santiago', '2026-09-06T04:00:00.000Z'],
  ];
  for (const [name, day, minute, zone, expected] of INSTANTS) {
    test(`instant of a wall time: ${name}`, () =>
      assert.equal(iso(instantOf(day, minute, timeZoneOrThrow(zone))), expected));
  }

  test('round trip through local time on every minute of a DST day that exists', () => {
    for (let minute = 0; minute < 24 * 60; minute += 7) {
      if (minute >= 120 && minute < 180) continue; // 02:00–03:00 does not exist on 2026-03-08 in New York
      const instant = instantOf(date('2026-03-08'), minute, ny);
      assert.deepEqual(localTime(instant, ny), { date: '2026-03-08', minuteOfDay: minute, weekday: 7 });
    }
    assert.equal(iso(startOfLocalDay(date('2026-03-08'), ny)), '2026-03-08T05:00:00.000Z');
  });

  test('calendar arithmetic', () => {
    assert.equal(addDays(date('2026-02-28'), 1), '2026-03-01');
    assert.equal(addDays(date('2026-01-01'), -1), '2025-12-31');
    assert.equal(daysBetween(date('2026-03-01'), date('2026-03-31')), 30);
    assert.equal(isWeekend(date('2026-03-07')), true);
    assert.equal(isWeekend(date('2026-03-08')), true);
    assert.equal(isWeekend(date('2026-03-09')), false);
    assert.equal(parseLocalDate('2026-02-30'), undefined);
    assert.equal(parseLocalDate('2026-2-3'), undefined);
  });
});

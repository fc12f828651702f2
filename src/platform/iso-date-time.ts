/**
 * Reads an ISO 8601 / RFC 3339 date-time strictly: the shape, then that the date and time exist. `Date.parse`
 * alone is not enough: V8 takes `2027-02-30T09:00:00Z` as 2 March and `T24:00` as the next midnight, so an
 * impossible date would silently become another day. Every date the service accepts (the send API's `sendAt`, the
 * dashboard's form through it, `MICROSOFT_CLIENT_SECRET_EXPIRES_AT`) goes through here, before any range check.
 *
 * Ranges are RFC 3339 §5.6–5.7 (month 01–12, day 01–28/29/30/31 by month and leap year, hour 00–23, minute and
 * second 00–59, offset hours 00–23). @see docs/standards.md §2
 * A leap second (`:60`, which RFC 3339 allows at a month's end) is refused: JavaScript time cannot represent it and
 * nothing we schedule needs it to the second. `24:00` (end of day in old ISO 8601) is refused as RFC 3339 does.
 */

/**
 * What was wrong. `shape`: not an ISO date-time at all; `no_such_date` / `no_such_time`: well formed but impossible,
 * `why` saying so for a person (`2027-02-30 does not exist (February 2027 has 28 days)`).
 */
export type IsoDateTimeResult =
  | { ok: true; time: number }
  | { ok: false; kind: 'shape' }
  | { ok: false; kind: 'no_such_date' | 'no_such_time'; why: string };

export interface IsoDateTimeOptions {
  /** `true`: a time and a zone are required (`2030-01-01T09:00Z`); `false`: a date alone (UTC midnight) is allowed. */
  timeRequired: boolean;
}

// Date, then optionally T, hour:minute, optional :second and fraction, and a zone (Z or ±hh:mm).
const SHAPE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):(\d{2})))?$/i;

const MONTH_NAMES = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function noSuchTime(why: string): IsoDateTimeResult {
  return { ok: false, kind: 'no_such_time', why };
}

/** Parses `value` into epoch milliseconds, or says why it is not a date-time that exists. Pure. */
export function parseIsoDateTime(value: string, options: IsoDateTimeOptions): IsoDateTimeResult {
  const match = SHAPE.exec(value);
  if (!match) return { ok: false, kind: 'shape' };
  const [, y, mo, d, h, mi, s, fraction, zone, sign, offH, offM] = match;
  if (h === undefined && options.timeRequired) return { ok: false, kind: 'shape' };
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12) {
    return { ok: false, kind: 'no_such_date', why: `month ${mo} does not exist (months are 01 to 12)` };
  }
  const lastDay = daysInMonth(year, month);
  if (day < 1 || day > lastDay) {
    const name = `${MONTH_NAMES[month - 1]} ${y}`;
    return { ok: false, kind: 'no_such_date', why: `${y}-${mo}-${d} does not exist (${name} has ${lastDay} days)` };
  }
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(s ?? 0);
  if (hour > 23) return noSuchTime(`hour ${h} does not exist (hours are 00 to 23)`);
  if (minute > 59) return noSuchTime(`minute ${mi} does not exist (minutes are 00 to 59)`);
  if (second > 59)
    return noSuchTime(`second ${s} does not exist (seconds are 00 to 59; leap seconds are not accepted)`);
  let offsetMinutes = 0;
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    if (Number(offH) > 23 || Number(offM) > 59) {
      return noSuchTime(`the time zone offset ${zone} does not exist (offsets are -23:59 to +23:59)`);
    }
    offsetMinutes = (sign === '-' ? -1 : 1) * (Number(offH) * 60 + Number(offM));
  }
  const milliseconds = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));
  // setUTCFullYear, not Date.UTC: Date.UTC reads years 0–99 as 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, milliseconds);
  return { ok: true, time: date.getTime() - offsetMinutes * 60_000 };
}

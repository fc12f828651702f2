/**
 * The mailbox's time zone and local-time arithmetic through `Intl` (no time-zone library): warm-up slots, waking
 * hours and the daily factor all follow the mailbox's local clock and date (docs/warmup.md §B).
 *
 * Graph's `mailboxSettings.timeZone` is "the default time zone for the user's mailbox" and, unless the request says
 * `Prefer: outlook.timezone`, comes back as a Windows name ("Pacific Standard Time"); PATCH accepts Windows or IANA
 * names (@see docs/graph.md §3.7). `Intl` knows only IANA names, so the
 * common Windows names are mapped with Unicode CLDR's table (common/supplemental/windowsZones.xml, the "001"
 * territory rows @see docs/standards.md §12).
 */

/** A calendar date `YYYY-MM-DD` in some mailbox's zone. */
export type LocalDate = string & { readonly __brand: 'LocalDate' };
/** An IANA zone name that `Intl` accepts. */
export type TimeZone = string & { readonly __brand: 'TimeZone' };

const MINUTE = 60_000;
const DAY = 86_400_000;

/** Windows time-zone id → IANA zone, from CLDR windowsZones.xml (territory 001). */
export const WINDOWS_TIME_ZONES: Readonly<Record<string, string>> = Object.freeze({
  'Dateline Standard Time': 'Etc/GMT+12',
  'UTC-11': 'Etc/GMT+11',
  'Hawaiian Standard Time': 'Pacific/Honolulu',
  'Alaskan Standard Time': 'America/Anchorage',
  'Pacific Standard Time (Mexico)': 'America/Tijuana',
  'Pacific Standard Time': 'America/Los_Angeles',
  'US Mountain Standard Time': 'America/Phoenix',
  'Mountain Standard Time': 'America/Denver',
  'Central America Standard Time': 'America/Guatemala',
  'Central Standard Time': 'America/Chicago',
  'Central Standard Time (Mexico)': 'America/Mexico_City',
  'Canada Central Standard Time': 'America/Regina',
  'SA Pacific Standard Time': 'America/Bogota',
  'Eastern Standard Time': 'America/New_York',
  'US Eastern Standard Time': 'America/Indiana/Indianapolis',
  'Atlantic Standard Time': 'America/Halifax',
  'Newfoundland Standard Time': 'America/St_Johns',
  'E. South America Standard Time': 'America/Sao_Paulo',
  'Argentina Standard Time': 'America/Argentina/Buenos_Aires',
  'SA Eastern Standard Time': 'America/Cayenne',
  UTC: 'Etc/UTC',
  'GMT Standard Time': 'Europe/London',
  'Greenwich Standard Time': 'Atlantic/Reykjavik',
  'W. Europe Standard Time': 'Europe/Berlin',
  'Central Europe Standard Time': 'Europe/Budapest',
  'Romance Standard Time': 'Europe/Paris',
  'Central European Standard Time': 'Europe/Warsaw',
  'W. Central Africa Standard Time': 'Africa/Lagos',
  'GTB Standard Time': 'Europe/Bucharest',
  'E. Europe Standard Time': 'Europe/Chisinau',
  'FLE Standard Time': 'Europe/Kiev',
  'South Africa Standard Time': 'Africa/Johannesburg',
  'Israel Standard Time': 'Asia/Jerusalem',
  'Egypt Standard Time': 'Africa/Cairo',
  'Turkey Standard Time': 'Europe/Istanbul',
  'Russian Standard Time': 'Europe/Moscow',
  'Arab Standard Time': 'Asia/Riyadh',
  'Arabian Standard Time': 'Asia/Dubai',
  'Iran Standard Time': 'Asia/Tehran',
  'Pakistan Standard Time': 'Asia/Karachi',
  'India Standard Time': 'Asia/Kolkata',
  'Nepal Standard Time': 'Asia/Kathmandu',
  'Bangladesh Standard Time': 'Asia/Dhaka',
  'SE Asia Standard Time': 'Asia/Bangkok',
  'China Standard Time': 'Asia/Shanghai',
  'Singapore Standard Time': 'Asia/Singapore',
  'Taipei Standard Time': 'Asia/Taipei',
  'Tokyo Standard Time': 'Asia/Tokyo',
  'Korea Standard Time': 'Asia/Seoul',
  'W. Australia Standard Time': 'Australia/Perth',
  'Cen. Australia Standard Time': 'Australia/Adelaide',
  'E. Australia Standard Time': 'Australia/Brisbane',
  'AUS Eastern Standard Time': 'Australia/Sydney',
  'New Zealand Standard Time': 'Pacific/Auckland',
  'Tonga Standard Time': 'Pacific/Tongatapu',
});

export type TimeZoneResult =
  | { ok: true; zone: TimeZone; from: 'iana' | 'windows' }
  /** "Customized Time Zone", an empty value or a name neither table nor `Intl` knows. */
  | { ok: false; reason: 'unknown_time_zone'; name: string };

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

function isIanaZone(name: string): boolean {
  try {
    formatterFor(name);
    return true;
  } catch {
    // Intl throws a RangeError for a zone it does not know: that is the answer, not a failure.
    return false;
  }
}

/** The IANA zone for a `mailboxSettings.timeZone` value (Windows or IANA) or a user's override. */
export function resolveTimeZone(name: string): TimeZoneResult {
  const trimmed = name.trim();
  const windows = WINDOWS_TIME_ZONES[trimmed];
  if (windows !== undefined) return { ok: true, zone: windows as TimeZone, from: 'windows' };
  // `Intl` also accepts abbreviations such as "EST": only Area/Location names and UTC count as IANA here.
  if ((/^[A-Za-z]+\/[A-Za-z0-9_+\-/]+$/.test(trimmed) || trimmed === 'UTC') && isIanaZone(trimmed)) {
    return { ok: true, zone: trimmed as TimeZone, from: 'iana' };
  }
  return { ok: false, reason: 'unknown_time_zone', name: trimmed };
}

/** An IANA zone known to be valid (tests, constants); throws otherwise. */
export function timeZoneOrThrow(name: string): TimeZone {
  const result = resolveTimeZone(name);
  if (!result.ok) throw new RangeError(`unknown time zone "${name}"`);
  return result.zone;
}

/** What the mailbox's wall clock shows at an instant. */
export interface LocalTime {
  date: LocalDate;
  /** Minutes after local midnight, 0–1439. */
  minuteOfDay: number;
  /** ISO weekday: 1 Monday … 7 Sunday. */
  weekday: number;
}

function wallClockAsUtc(epochMs: number, zone: TimeZone): number {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(epochMs)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
}

/** The zone's offset from UTC at an instant, in minutes (east positive). */
export function utcOffsetMinutes(epochMs: number, zone: TimeZone): number {
  const whole = Math.floor(epochMs / 1000) * 1000;
  return Math.round((wallClockAsUtc(whole, zone) - whole) / MINUTE);
}

/** The local date, minute of day and weekday at an instant. */
export function localTime(epochMs: number, zone: TimeZone): LocalTime {
  const wall = wallClockAsUtc(Math.floor(epochMs / 1000) * 1000, zone);
  const date = new Date(wall).toISOString().slice(0, 10) as LocalDate;
  return { date, minuteOfDay: Math.floor((wall % DAY) / MINUTE), weekday: weekdayOf(date) };
}

/** A `YYYY-MM-DD` string as a LocalDate, or undefined if it is not a real calendar date. */
export function parseLocalDate(value: string): LocalDate | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const ms = Date.parse(`${value}T00:00:00Z`);
  return Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value ? undefined : (value as LocalDate);
}

export function addDays(date: LocalDate, days: number): LocalDate {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY).toISOString().slice(0, 10) as LocalDate;
}

/** Whole days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: LocalDate, to: LocalDate): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY);
}

/** ISO weekday of a date: 1 Monday … 7 Sunday. */
export function weekdayOf(date: LocalDate): number {
  const day = new Date(`${date}T00:00:00Z`).getUTCDay();
  return day === 0 ? 7 : day;
}

export function isWeekend(date: LocalDate): boolean {
  return weekdayOf(date) >= 6;
}

/**
 * The instant the mailbox's clock shows `minuteOfDay` on `date`. On a DST change day a wall time that does not exist
 * (spring forward) gives the instant the clock shows that much later (02:30 → 03:30), and a wall time that occurs
 * twice (fall back) gives the earlier one. Offsets are taken 12 hours either side: no zone changes twice within a day.
 */
export function instantOf(date: LocalDate, minuteOfDay: number, zone: TimeZone): number {
  const wall = Date.parse(`${date}T00:00:00Z`) + minuteOfDay * MINUTE;
  const before = wall - utcOffsetMinutes(wall - DAY / 2, zone) * MINUTE;
  const after = wall - utcOffsetMinutes(wall + DAY / 2, zone) * MINUTE;
  const shows = (instant: number) => wallClockAsUtc(instant, zone) === wall;
  const valid = [before, after].filter(shows);
  if (valid.length > 0) return Math.min(...valid);
  return before;
}

/** The first instant of the local date (its midnight, or the first minute after a midnight DST gap). */
export function startOfLocalDay(date: LocalDate, zone: TimeZone): number {
  return instantOf(date, 0, zone);
}

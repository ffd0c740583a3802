// The one RFC 3339 date-time parser. Every date the service takes — admin fields, query
// parameters, the bulk import, the openway import and compat listener — goes through it, so a
// date that one path refuses no other path stores (e.g. 2026-02-30 silently read as March 2).
//
// Strict RFC 3339 §5.6 `date-time`, with these decisions:
// - `T` (or `t`) between date and time; an offset is required: `Z`/`z` or `±HH:MM` (HH ≤ 23,
//   MM ≤ 59; `-00:00` is the same instant as `Z`). A date alone, a space separator, `±HHMM`,
//   expanded years (`+099999`) and week or ordinal dates are refused.
// - The calendar is checked: 2026-02-30, 2025-02-29, hour 24, minute 60 are refused.
// - Years 0001–9999, and the instant itself (after the offset) from 0001-01-01T00:00:00Z to
//   9999-12-31T23:59:59.999Z: inside what both Postgres' timestamptz and a JavaScript Date
//   hold and print as a four-digit year (Postgres has no year 0).
// - Fractions: 1–9 digits, truncated to the millisecond (what a JavaScript Date and the index
//   keep).
// - Leap seconds: `:60` is accepted only where one can occur — 23:59:60 UTC (after the offset)
//   on the last day of a month — and read as the next minute's first instant, the reading
//   Postgres gives it too (POSIX time, and so epoch ms, has no leap second of its own); a fraction
//   on it is dropped.
//   Everywhere else `:60` is refused.
import { invalid } from "./errors";

export const MIN_DATE_MS = new Date("0001-01-01T00:00:00Z").getTime();
export const MAX_DATE_MS = new Date("9999-12-31T23:59:59.999Z").getTime();

export type DateProblem = "format" | "impossible" | "offset" | "out_of_range" | "leap_second";

export interface DateRefusal {
  ok: false;
  /** The field the value came from, as the caller named it (e.g. `valid_until`, `users[3].valid_from`). */
  field: string;
  problem: DateProblem;
  /** One sentence saying what is wrong and what would be accepted. */
  message: string;
}

export type DateParse = { ok: true; ms: number } | DateRefusal;

export const DATE_TIME_HINT = "an RFC 3339 date-time with an offset, e.g. 2026-01-01T00:00:00Z";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

const refuse = (field: string, problem: DateProblem, message: string): DateRefusal => ({ ok: false, field, problem, message });

function daysInMonth(y: number, m: number): number {
  return m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [31, 0, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
}

/** Epoch ms of an RFC 3339 date-time, or a refusal naming `field` and the problem. */
export function parseDateTime(value: unknown, field: string): DateParse {
  if (typeof value !== "string") return refuse(field, "format", `must be ${DATE_TIME_HINT}`);
  const m = RFC3339.exec(value);
  if (!m) return refuse(field, "format", `must be ${DATE_TIME_HINT}`);
  const y = +m[1]!, mo = +m[2]!, d = +m[3]!, h = +m[4]!, mi = +m[5]!, s = +m[6]!;
  if (y < 1) return refuse(field, "out_of_range", "the year must be from 0001 to 9999");
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) {
    return refuse(field, "impossible", `${m[1]}-${m[2]}-${m[3]} is not a calendar date`);
  }
  if (h > 23 || mi > 59 || s > 60) return refuse(field, "impossible", `${m[4]}:${m[5]}:${m[6]} is not a time of day`);
  let offsetMs = 0;
  if (!m[8]) {
    const oh = +m[10]!, om = +m[11]!;
    if (oh > 23 || om > 59) return refuse(field, "offset", "the offset must be Z or ±HH:MM with HH up to 23 and MM up to 59");
    offsetMs = (m[9] === "-" ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d); // Date.UTC would read years 0..99 as 19xx
  t.setUTCHours(h, mi, s === 60 ? 59 : s, m[7] ? Number(m[7].slice(0, 3).padEnd(3, "0")) : 0);
  let ms = t.getTime() - offsetMs;
  if (s === 60) {
    const utc = new Date(ms);
    const lastDay = utc.getUTCDate() === daysInMonth(utc.getUTCFullYear(), utc.getUTCMonth() + 1);
    if (!(lastDay && utc.getUTCHours() === 23 && utc.getUTCMinutes() === 59)) {
      return refuse(field, "leap_second", "second 60 (a leap second) exists only at 23:59:60 UTC on the last day of a month");
    }
    ms = Math.floor(ms / 1000) * 1000 + 1000; // the next minute's first instant
  }
  if (ms < MIN_DATE_MS || ms > MAX_DATE_MS) {
    return refuse(field, "out_of_range", "must be from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z");
  }
  return { ok: true, ms };
}

/** Epoch ms of `value`, or throws 400 `invalid_request` naming `field`. */
export function dateTimeMs(value: unknown, field: string): number {
  const r = parseDateTime(value, field);
  if (!r.ok) throw invalid(r.field, r.message);
  return r.ms;
}

/** A nullable date field → a Date for Postgres (null stays null, undefined stays absent). */
export function dateColumn(value: unknown, field: string): Date | null | undefined {
  if (value === undefined || value === null) return value;
  return new Date(dateTimeMs(value, field));
}

export function isDateTime(value: string): boolean {
  return parseDateTime(value, "").ok;
}


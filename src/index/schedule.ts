import { offsetAt, TzClock } from "./clock";
import type { ScheduleRec, ScheduleWindow } from "./types";

const DAY = 86_400_000;
const MINUTE = 60_000;

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$|^24:00$/;

/** Minutes since local midnight, or -1 when the text is not "HH:MM" (00:00..24:00). */
export function parseHHMM(text: string): number {
  const m = HHMM.exec(text);
  if (!m) return -1;
  return m[1] === undefined ? 1440 : +m[1] * 60 + +m[2]!;
}

/** Why a window list is unacceptable, naming the offending path; null when it is fine. */
export function windowsProblem(windows: ScheduleWindow[]): { field: string; message: string } | null {
  for (let i = 0; i < windows.length; i++) {
    const w = windows[i]!;
    const start = parseHHMM(w.start), end = parseHHMM(w.end);
    if (start < 0 || start === 1440) return { field: `windows[${i}].start`, message: "must be HH:MM between 00:00 and 23:59" };
    if (end < 0) return { field: `windows[${i}].end`, message: "must be HH:MM between 00:00 and 24:00" };
    if (start === end) return { field: `windows[${i}].end`, message: "must differ from start" };
    if (w.days.length === 0) return { field: `windows[${i}].days`, message: "must name at least one ISO weekday" };
    for (const d of w.days) {
      if (!Number.isInteger(d) || d < 1 || d > 7) return { field: `windows[${i}].days`, message: "ISO weekdays are 1 (Monday) to 7 (Sunday)" };
    }
  }
  return null;
}

/** Local wall-clock reading of an instant in a schedule's timezone. */
export interface LocalTime {
  isoDay: number; // 1 = Monday … 7 = Sunday
  minute: number; // minutes since local midnight
}

function localTime(utcMs: number, offsetMs: number): LocalTime {
  const local = utcMs + offsetMs;
  const days = Math.floor(local / DAY);
  return { isoDay: ((((days + 3) % 7) + 7) % 7) + 1, minute: Math.floor((local - days * DAY) / MINUTE) };
}

/**
 * A schedule compiled for lookups: per ISO weekday, a flat list of [start, end) minute pairs.
 * A window that ends before it starts is split at midnight into its day and the next.
 */
export class CompiledSchedule {
  readonly clock: TzClock;
  private byDay: number[][] = [];

  constructor(public rec: ScheduleRec, clock: TzClock) {
    this.clock = clock;
    this.compile(rec);
  }

  /** Replace the windows in place: grants keep pointing at this object. */
  compile(rec: ScheduleRec): void {
    this.rec = rec;
    const byDay: number[][] = [[], [], [], [], [], [], [], []];
    for (const w of rec.windows) {
      const start = parseHHMM(w.start), end = parseHHMM(w.end);
      if (start < 0 || end < 0 || start === end) continue;
      for (const d of w.days) {
        if (d < 1 || d > 7) continue;
        if (end > start) byDay[d]!.push(start, end);
        else {
          byDay[d]!.push(start, 1440);
          if (end > 0) byDay[(d % 7) + 1]!.push(0, end);
        }
      }
    }
    this.byDay = byDay;
  }

  isOpen(now: number): boolean {
    const local = now + this.clock.offsetMs(now);
    const days = Math.floor(local / DAY);
    const list = this.byDay[((((days + 3) % 7) + 7) % 7) + 1]!;
    const minute = Math.floor((local - days * DAY) / MINUTE);
    for (let i = 0; i < list.length; i += 2) {
      if (minute >= list[i]! && minute < list[i + 1]!) return true;
    }
    return false;
  }

  /** For explanations: the local time at `at` and the window that covers it, if any. */
  describe(at: number): { local: string; isoDay: number; open: boolean; window: ScheduleWindow | null } {
    const offset = offsetAt(this.rec.timezone, at);
    const lt = localTime(at, offset);
    const local = new Date(at + offset).toISOString().slice(0, 16).replace("T", " ");
    let window: ScheduleWindow | null = null;
    for (const w of this.rec.windows) {
      const start = parseHHMM(w.start), end = parseHHMM(w.end);
      for (const d of w.days) {
        const prev = d === lt.isoDay - 1 || (d === 7 && lt.isoDay === 1);
        if (end > start ? d === lt.isoDay && lt.minute >= start && lt.minute < end
          : (d === lt.isoDay && lt.minute >= start) || (prev && lt.minute < end)) {
          window = w;
        }
      }
    }
    return { local, isoDay: lt.isoDay, open: window !== null, window };
  }
}

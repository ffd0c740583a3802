import { describe, expect, test } from "bun:test";
import { isValidTimezone, offsetAt, TzClock } from "../../src/index/clock";
import { CompiledSchedule, parseHHMM, windowsProblem } from "../../src/index/schedule";
import type { ScheduleWindow } from "../../src/index/types";
import { ALL_DAYS, HOUR, MINUTE, schedule } from "./helpers";

const t = (iso: string): number => Date.parse(iso);
const compiled = (timezone: string, windows: ScheduleWindow[]) =>
  new CompiledSchedule(schedule("s", timezone, windows), new TzClock(timezone));

// Europe/Berlin in 2026: CET (UTC+1) until 2026-03-29T01:00Z, CEST (UTC+2) until 2026-10-25T01:00Z.
const SPRING = t("2026-03-29T01:00:00Z");
const FALL = t("2026-10-25T01:00:00Z");

describe("parseHHMM", () => {
  test("reads minutes since midnight, 24:00 as 1440", () => {
    expect(parseHHMM("00:00")).toBe(0);
    expect(parseHHMM("08:30")).toBe(510);
    expect(parseHHMM("23:59")).toBe(1439);
    expect(parseHHMM("24:00")).toBe(1440);
  });

  test("rejects anything that is not HH:MM within a day", () => {
    for (const bad of ["24:01", "25:00", "8:00", "08:60", "0800", "", "08:00:00", " 08:00", "ab:cd"]) {
      expect(parseHHMM(bad)).toBe(-1);
    }
  });
});

describe("windowsProblem", () => {
  test("accepts valid windows, including 24:00 ends and windows past midnight", () => {
    expect(windowsProblem([])).toBeNull();
    expect(windowsProblem([
      { days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" },
      { days: [6], start: "20:00", end: "24:00" },
      { days: [7], start: "22:00", end: "06:00" },
    ])).toBeNull();
  });

  test("a bad start names windows[i].start", () => {
    expect(windowsProblem([{ days: [1], start: "8am", end: "09:00" }])?.field).toBe("windows[0].start");
    expect(windowsProblem([{ days: [1], start: "24:00", end: "09:00" }])?.field).toBe("windows[0].start");
  });

  test("a bad end names windows[i].end", () => {
    expect(windowsProblem([{ days: [1], start: "08:00", end: "24:30" }])?.field).toBe("windows[0].end");
  });

  test("start equal to end names windows[i].end", () => {
    const p = windowsProblem([{ days: [1], start: "08:00", end: "08:00" }]);
    expect(p?.field).toBe("windows[0].end");
    expect(p?.message).toMatch(/differ/);
  });

  test("empty or out-of-range days name windows[i].days", () => {
    expect(windowsProblem([{ days: [], start: "08:00", end: "09:00" }])?.field).toBe("windows[0].days");
    for (const d of [0, 8, 1.5, -1]) {
      expect(windowsProblem([{ days: [1, d], start: "08:00", end: "09:00" }])?.field).toBe("windows[0].days");
    }
  });

  test("the index in the field points at the offending window", () => {
    const p = windowsProblem([
      { days: [1], start: "08:00", end: "09:00" },
      { days: [2], start: "10:00", end: "11:00" },
      { days: [3], start: "12:00", end: "xx" },
    ]);
    expect(p).toEqual({ field: "windows[2].end", message: expect.any(String) });
  });
});

describe("isValidTimezone", () => {
  test("accepts IANA names the runtime knows", () => {
    for (const tz of ["UTC", "Europe/Berlin", "America/Los_Angeles", "Pacific/Auckland", "Asia/Kolkata"]) {
      expect(isValidTimezone(tz)).toBe(true);
    }
  });

  test("rejects unknown names, empty, overlong and non-strings", () => {
    expect(isValidTimezone("Mars/Olympus_Mons")).toBe(false);
    // Offsets are not IANA names (and Postgres would read their sign the other way round).
    expect(isValidTimezone("+05:00")).toBe(false);
    expect(isValidTimezone("-03:30")).toBe(false);
    expect(isValidTimezone("Europe/Berlinn")).toBe(false);
    expect(isValidTimezone("")).toBe(false);
    expect(isValidTimezone("Europe/" + "x".repeat(64))).toBe(false);
    expect(isValidTimezone(undefined as unknown as string)).toBe(false);
    expect(isValidTimezone(42 as unknown as string)).toBe(false);
  });
});

describe("offsetAt", () => {
  test("Europe/Berlin switches exactly at 01:00Z on both 2026 transition days", () => {
    expect(offsetAt("Europe/Berlin", SPRING - 1)).toBe(1 * HOUR);
    expect(offsetAt("Europe/Berlin", SPRING)).toBe(2 * HOUR);
    expect(offsetAt("Europe/Berlin", FALL - 1)).toBe(2 * HOUR);
    expect(offsetAt("Europe/Berlin", FALL)).toBe(1 * HOUR);
  });

  test("negative and fractional-hour offsets, and instants with milliseconds", () => {
    expect(offsetAt("America/Los_Angeles", t("2026-01-15T12:00:00.123Z"))).toBe(-8 * HOUR);
    expect(offsetAt("America/Los_Angeles", t("2026-07-15T12:00:00.999Z"))).toBe(-7 * HOUR);
    expect(offsetAt("Asia/Kolkata", t("2026-07-15T12:00:00Z"))).toBe(5.5 * HOUR);
    expect(offsetAt("UTC", t("2026-07-15T00:00:00Z"))).toBe(0);
  });

  test("local midnight reads as hour 0, not 24", () => {
    // 2026-03-28T23:00:00Z is 00:00 CET on the 29th.
    expect(offsetAt("Europe/Berlin", t("2026-03-28T23:00:00Z"))).toBe(HOUR);
    expect(offsetAt("UTC", t("2026-03-29T00:00:00Z"))).toBe(0);
  });
});

describe("TzClock", () => {
  test("increasing instants across the spring-forward change give the right offsets", () => {
    const clock = new TzClock("Europe/Berlin");
    const instants = [
      SPRING - 7 * 24 * HOUR, SPRING - 3 * 24 * HOUR, SPRING - HOUR, SPRING - 1000, SPRING - 1,
      SPRING, SPRING + 1, SPRING + HOUR, SPRING + 8 * 24 * HOUR,
    ];
    for (const now of instants) expect(clock.offsetMs(now)).toBe(offsetAt("Europe/Berlin", now));
    expect(new TzClock("Europe/Berlin").offsetMs(SPRING - 1)).toBe(HOUR);
  });

  test("a cache primed just before the transition flips exactly at it", () => {
    const clock = new TzClock("Europe/Berlin");
    expect(clock.offsetMs(SPRING - 2 * HOUR)).toBe(HOUR);
    expect(clock.offsetMs(SPRING - 1)).toBe(HOUR);
    expect(clock.offsetMs(SPRING)).toBe(2 * HOUR);
    expect(clock.offsetMs(SPRING + 1)).toBe(2 * HOUR);
  });

  test("increasing instants across the fall-back change give the right offsets", () => {
    const clock = new TzClock("Europe/Berlin");
    expect(clock.offsetMs(FALL - 5 * 24 * HOUR)).toBe(2 * HOUR);
    expect(clock.offsetMs(FALL - 1)).toBe(2 * HOUR);
    expect(clock.offsetMs(FALL)).toBe(HOUR);
    expect(clock.offsetMs(FALL + 3 * HOUR)).toBe(HOUR);
  });

  test("minute-by-minute sweep over both transitions matches Intl", () => {
    for (const edge of [SPRING, FALL]) {
      const clock = new TzClock("Europe/Berlin");
      for (let now = edge - 3 * HOUR; now <= edge + 3 * HOUR; now += 7 * MINUTE + 13) {
        expect(clock.offsetMs(now)).toBe(offsetAt("Europe/Berlin", now));
      }
    }
  });

  test("instants going backwards, and far jumps, refresh correctly", () => {
    const clock = new TzClock("Europe/Berlin");
    expect(clock.offsetMs(SPRING + HOUR)).toBe(2 * HOUR);
    expect(clock.offsetMs(SPRING - HOUR)).toBe(HOUR);
    expect(clock.offsetMs(FALL + HOUR)).toBe(HOUR);
    expect(clock.offsetMs(t("2026-07-01T00:00:00Z"))).toBe(2 * HOUR);
    expect(clock.offsetMs(t("2026-01-01T00:00:00Z"))).toBe(HOUR);
  });

  test("a southern-hemisphere zone across its April change (Pacific/Auckland)", () => {
    // NZDT (+13) ends 2026-04-05 at 03:00 local = 2026-04-04T14:00Z, then NZST (+12).
    const edge = t("2026-04-04T14:00:00Z");
    const clock = new TzClock("Pacific/Auckland");
    expect(clock.offsetMs(edge - 2 * 24 * HOUR)).toBe(13 * HOUR);
    expect(clock.offsetMs(edge - 1)).toBe(13 * HOUR);
    expect(clock.offsetMs(edge)).toBe(12 * HOUR);
  });
});

describe("CompiledSchedule.isOpen", () => {
  test("a plain UTC window is open on [start, end) of its days only", () => {
    // 2026-03-23 is a Monday.
    const s = compiled("UTC", [{ days: [1], start: "09:00", end: "17:00" }]);
    expect(s.isOpen(t("2026-03-23T08:59:59.999Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-23T09:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-23T16:59:59.999Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-23T17:00:00Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-24T10:00:00Z"))).toBe(false); // Tuesday
    expect(s.isOpen(t("2026-03-30T10:00:00Z"))).toBe(true); // next Monday
  });

  test("ISO weekdays: 1 is Monday and 7 is Sunday", () => {
    // 2026-03-23 Mon … 2026-03-29 Sun.
    for (let d = 1; d <= 7; d++) {
      const s = compiled("UTC", [{ days: [d], start: "00:00", end: "24:00" }]);
      for (let day = 0; day < 7; day++) {
        expect(s.isOpen(t("2026-03-23T12:00:00Z") + day * 24 * HOUR)).toBe(day + 1 === d);
      }
    }
  });

  test("Pacific/Auckland: the local weekday is the next UTC day", () => {
    // 2026-03-29T22:00Z is Sunday in UTC but Monday 2026-03-30 11:00 NZDT (+13).
    const now = t("2026-03-29T22:00:00Z");
    expect(compiled("Pacific/Auckland", [{ days: [1], start: "10:00", end: "12:00" }]).isOpen(now)).toBe(true);
    expect(compiled("Pacific/Auckland", [{ days: [7], start: "00:00", end: "24:00" }]).isOpen(now)).toBe(false);
    expect(compiled("UTC", [{ days: [7], start: "00:00", end: "24:00" }]).isOpen(now)).toBe(true);
  });

  test("America/Los_Angeles: the local weekday is the previous UTC day", () => {
    // 2026-03-31T03:00Z is Tuesday in UTC but Monday 2026-03-30 20:00 PDT (-7).
    const now = t("2026-03-31T03:00:00Z");
    expect(compiled("America/Los_Angeles", [{ days: [1], start: "19:00", end: "21:00" }]).isOpen(now)).toBe(true);
    expect(compiled("America/Los_Angeles", [{ days: [2], start: "19:00", end: "21:00" }]).isOpen(now)).toBe(false);
    expect(compiled("America/Los_Angeles", [{ days: [2], start: "00:00", end: "24:00" }]).isOpen(now)).toBe(false);
    // And in winter (PST, -8): 2026-01-06T04:30Z is Monday 2026-01-05 20:30 local.
    expect(compiled("America/Los_Angeles", [{ days: [1], start: "20:00", end: "21:00" }]).isOpen(t("2026-01-06T04:30:00Z"))).toBe(true);
  });

  test("Europe/Berlin 08:00-09:00 follows local time across spring-forward (2026-03-29)", () => {
    const s = compiled("Europe/Berlin", [{ days: ALL_DAYS, start: "08:00", end: "09:00" }]);
    // Saturday 2026-03-28, CET (+1): the window is 07:00Z-08:00Z.
    expect(s.isOpen(t("2026-03-28T06:00:00Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-28T06:59:59Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-28T07:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-28T07:59:59Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-28T08:00:00Z"))).toBe(false);
    // Sunday 2026-03-29, CEST (+2): the window is 06:00Z-07:00Z.
    expect(s.isOpen(t("2026-03-29T05:59:59Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-29T06:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-29T06:59:59Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-29T07:00:00Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-29T07:30:00Z"))).toBe(false);
  });

  test("Europe/Berlin 08:00-09:00 follows local time across fall-back (2026-10-25)", () => {
    const s = compiled("Europe/Berlin", [{ days: ALL_DAYS, start: "08:00", end: "09:00" }]);
    // Saturday 2026-10-24, CEST (+2): the window is 06:00Z-07:00Z.
    expect(s.isOpen(t("2026-10-24T05:59:59Z"))).toBe(false);
    expect(s.isOpen(t("2026-10-24T06:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-10-24T07:00:00Z"))).toBe(false);
    // Sunday 2026-10-25, CET (+1): the window is 07:00Z-08:00Z.
    expect(s.isOpen(t("2026-10-25T06:00:00Z"))).toBe(false);
    expect(s.isOpen(t("2026-10-25T06:59:59Z"))).toBe(false);
    expect(s.isOpen(t("2026-10-25T07:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-10-25T07:59:59Z"))).toBe(true);
    expect(s.isOpen(t("2026-10-25T08:00:00Z"))).toBe(false);
  });

  test("a 02:00-03:00 window never opens on spring-forward day and opens twice on fall-back day", () => {
    const s = compiled("Europe/Berlin", [{ days: [7], start: "02:00", end: "03:00" }]);
    for (let now = SPRING - 2 * HOUR; now < SPRING + 2 * HOUR; now += 5 * MINUTE) expect(s.isOpen(now)).toBe(false);
    // 2026-10-25: 02:00-03:00 CEST is 00:00Z-01:00Z, then 02:00-03:00 CET is 01:00Z-02:00Z.
    expect(s.isOpen(t("2026-10-24T23:59:59Z"))).toBe(false);
    expect(s.isOpen(t("2026-10-25T00:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-10-25T00:59:59Z"))).toBe(true);
    expect(s.isOpen(t("2026-10-25T01:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-10-25T01:59:59Z"))).toBe(true);
    expect(s.isOpen(t("2026-10-25T02:00:00Z"))).toBe(false);
  });

  test("schedules sharing one clock stay right when evaluated in increasing time across the change", () => {
    const clock = new TzClock("Europe/Berlin");
    const early = new CompiledSchedule(schedule("e", "Europe/Berlin", [{ days: ALL_DAYS, start: "02:00", end: "04:00" }]), clock);
    const late = new CompiledSchedule(schedule("l", "Europe/Berlin", [{ days: ALL_DAYS, start: "03:00", end: "03:30" }]), clock);
    // 00:50Z = 01:50 CET: both closed. 01:00Z = 03:00 CEST: both open. 01:30Z = 03:30 CEST: only early.
    expect(early.isOpen(SPRING - 10 * MINUTE)).toBe(false);
    expect(late.isOpen(SPRING - 10 * MINUTE)).toBe(false);
    expect(early.isOpen(SPRING - 1)).toBe(false);
    expect(early.isOpen(SPRING)).toBe(true);
    expect(late.isOpen(SPRING)).toBe(true);
    expect(late.isOpen(SPRING + 30 * MINUTE)).toBe(false);
    expect(early.isOpen(SPRING + 30 * MINUTE)).toBe(true);
    expect(early.isOpen(SPRING + 60 * MINUTE)).toBe(false); // 04:00 CEST
  });

  test("a window crossing midnight (Fri 22:00-06:00) runs into Saturday morning only", () => {
    // 2026-03-27 is a Friday.
    const s = compiled("UTC", [{ days: [5], start: "22:00", end: "06:00" }]);
    expect(s.isOpen(t("2026-03-27T21:59:59Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-27T22:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-27T23:59:59Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-28T00:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-28T05:59:59Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-28T06:00:00Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-28T22:30:00Z"))).toBe(false); // Saturday night: no window
    expect(s.isOpen(t("2026-03-27T03:00:00Z"))).toBe(false); // Friday early morning: Thursday has none
  });

  test("a Sunday 22:00-06:00 window wraps into Monday", () => {
    const s = compiled("UTC", [{ days: [7], start: "22:00", end: "06:00" }]);
    expect(s.isOpen(t("2026-03-29T23:00:00Z"))).toBe(true); // Sunday
    expect(s.isOpen(t("2026-03-30T05:00:00Z"))).toBe(true); // Monday
    expect(s.isOpen(t("2026-03-30T06:00:00Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-29T05:00:00Z"))).toBe(false); // Sunday morning: Saturday has none
  });

  test("a local midnight-crossing window in a non-UTC zone", () => {
    // Europe/Berlin Fri 22:00-06:00 CET on 2026-03-27: 21:00Z Fri to 05:00Z Sat.
    const s = compiled("Europe/Berlin", [{ days: [5], start: "22:00", end: "06:00" }]);
    expect(s.isOpen(t("2026-03-27T20:59:59Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-27T21:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-28T04:59:59Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-28T05:00:00Z"))).toBe(false);
  });

  test("an end of 24:00 covers the last minute of the day and not the next day", () => {
    const s = compiled("UTC", [{ days: [1], start: "20:00", end: "24:00" }]);
    expect(s.isOpen(t("2026-03-23T19:59:59Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-23T20:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-23T23:59:59.999Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-24T00:00:00Z"))).toBe(false);
  });

  test("an end of 00:00 after a late start stops at midnight", () => {
    const s = compiled("UTC", [{ days: [1], start: "22:00", end: "00:00" }]);
    expect(s.isOpen(t("2026-03-23T23:59:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-24T00:00:00Z"))).toBe(false);
  });

  test("several windows on one day, and invalid windows are ignored", () => {
    const s = compiled("UTC", [
      { days: [1], start: "08:00", end: "10:00" },
      { days: [1], start: "14:00", end: "16:00" },
      { days: [1], start: "bad", end: "23:00" },
      { days: [1], start: "11:00", end: "11:00" },
      { days: [0, 9], start: "00:00", end: "24:00" },
    ]);
    expect(s.isOpen(t("2026-03-23T09:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-23T12:00:00Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-23T15:00:00Z"))).toBe(true);
    expect(s.isOpen(t("2026-03-23T22:00:00Z"))).toBe(false);
    expect(s.isOpen(t("2026-03-24T12:00:00Z"))).toBe(false);
  });

  test("compile() replaces the windows in place", () => {
    const s = compiled("UTC", [{ days: [1], start: "09:00", end: "10:00" }]);
    const now = t("2026-03-23T12:00:00Z");
    expect(s.isOpen(now)).toBe(false);
    s.compile(schedule("s", "UTC", [{ days: [1], start: "11:00", end: "13:00" }]));
    expect(s.isOpen(now)).toBe(true);
    expect(s.rec.windows[0]!.start).toBe("11:00");
  });

  test("describe() reports the local time, weekday and covering window", () => {
    const w = { days: [5], start: "22:00", end: "06:00" };
    const s = compiled("Europe/Berlin", [w]);
    expect(s.describe(t("2026-03-28T04:00:00Z"))).toEqual({ local: "2026-03-28 05:00", isoDay: 6, open: true, window: w });
    expect(s.describe(t("2026-03-28T06:00:00Z"))).toEqual({ local: "2026-03-28 07:00", isoDay: 6, open: false, window: null });
    const sun = { days: [7], start: "23:00", end: "01:00" };
    const wrap = compiled("UTC", [sun]);
    expect(wrap.describe(t("2026-03-30T00:30:00Z"))).toMatchObject({ isoDay: 1, open: true, window: sun });
  });
});

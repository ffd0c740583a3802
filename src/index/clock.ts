// UTC offsets of an IANA timezone without an Intl call per request: the offset is computed once
// and reused until the next transition (found by search), so a decision costs two comparisons.

const HOUR = 3_600_000;
const HORIZON = 7 * 24 * HOUR; // recompute at least weekly, even without a transition
const STEP = 6 * HOUR; // no zone changes its offset twice within six hours

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timezone, f);
  }
  return f;
}

/** True for names the runtime's tz database knows (e.g. "Europe/Berlin", "UTC"). */
export function isValidTimezone(timezone: string): boolean {
  if (typeof timezone !== "string" || timezone.length === 0 || timezone.length > 64) return false;
  // Intl also takes offsets ("+05:00"), which are not IANA names and which Postgres reads with
  // the opposite sign (POSIX): refuse them.
  if (/^[+-]|:/.test(timezone)) return false;
  try {
    formatter(timezone);
    return true;
  } catch {
    return false;
  }
}

/** Offset (local − UTC) in ms at instant `at`, straight from Intl. */
export function offsetAt(timezone: string, at: number): number {
  const parts = formatter(timezone).formatToParts(new Date(at));
  let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  for (const p of parts) {
    switch (p.type) {
      case "year": y = +p.value; break;
      case "month": mo = +p.value; break;
      case "day": d = +p.value; break;
      case "hour": h = +p.value; break;
      case "minute": mi = +p.value; break;
      case "second": s = +p.value; break;
    }
  }
  const local = Date.UTC(y, mo - 1, d, h, mi, s);
  return local - (at - (((at % 1000) + 1000) % 1000));
}

export class TzClock {
  private offset = 0;
  private from = Infinity; // the cached offset holds for instants in [from, until)
  private until = -Infinity;

  constructor(readonly timezone: string) {}

  offsetMs(now: number): number {
    if (now >= this.from && now < this.until) return this.offset;
    this.refresh(now);
    return this.offset;
  }

  private refresh(now: number): void {
    const tz = this.timezone;
    const offset = offsetAt(tz, now);
    let until = now + HORIZON;
    // Scan ahead in steps; on the first step with another offset, bisect to the transition.
    for (let t = now + STEP; t <= now + HORIZON; t += STEP) {
      if (offsetAt(tz, t) !== offset) {
        let lo = t - STEP, hi = t;
        while (hi - lo > 1) {
          const mid = lo + Math.floor((hi - lo) / 2);
          if (offsetAt(tz, mid) === offset) lo = mid;
          else hi = mid;
        }
        until = hi;
        break;
      }
    }
    this.offset = offset;
    this.from = now;
    this.until = until;
  }
}

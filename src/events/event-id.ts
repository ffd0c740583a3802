// Access-event ids: UUIDv7 (RFC 9562), made at decision time, one per verify. Bun.randomUUIDv7()
// draws fresh randomness for every id (0.2–0.4 µs each under load); this makes the same kind of id
// with one string concatenation, using the RFC's "fixed-length dedicated counter" method:
//
//   48 bits Unix milliseconds · version 7 · 12-bit counter · variant 10 · 62 random bits
//
// The random bits are drawn once per millisecond, the counter counts the ids within it. Unique in a
// process: (millisecond, counter) never repeats — the millisecond never goes back (a clock stepped
// back keeps the last one) and past 4,096 ids in one the next millisecond is taken, as Bun's own
// generator does. Unique across processes and instances: two of them clash only by drawing the same
// 62 random bits for the same millisecond. Ids of one process sort in the order they were made.
// (Postgres keys events by (at, id), and the event's `at` is its own field: the id's time is only
// how it sorts.)
import { getRandomValues } from "node:crypto";

const HEX3: string[] = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, "0"));
const random = new Uint32Array(2);

let lastMs = -1;
let counter = 0;
/** "tttttttt-tttt-7" for the current millisecond. */
let prefix = "";
/** "-vrrr-rrrrrrrrrrrr": the variant and this millisecond's 62 random bits. */
let suffix = "";

function nextMillisecond(ms: number): void {
  lastMs = ms = Math.min(Math.floor(ms), 2 ** 48 - 1); // 48 bits: good until the year 10889
  counter = 0;
  const t = ms.toString(16).padStart(12, "0");
  prefix = `${t.slice(0, 8)}-${t.slice(8, 12)}-7`;
  getRandomValues(random);
  const hi = random[0]!, lo = random[1]!;
  // 2 variant bits (10), then 62 random: 14 in the fourth group, 48 in the fifth.
  suffix = `-${HEX3[0x800 | ((hi >>> 20) & 0x3ff)]}${((hi >>> 16) & 0xf).toString(16)}-${(hi & 0xffff).toString(16).padStart(4, "0")}${lo.toString(16).padStart(8, "0")}`;
}

nextMillisecond(Date.now());

/** A fresh access-event id (a UUIDv7 string, lower-case); `now` is the event's time (epoch ms). */
export function eventId(now = Date.now()): string {
  if (now > lastMs && lastMs < 2 ** 48 - 1) nextMillisecond(now);
  else if (counter === 4095) nextMillisecond(lastMs + 1);
  else counter++;
  return prefix + HEX3[counter]! + suffix;
}

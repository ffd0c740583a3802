import { describe, expect, test } from "bun:test";
import { eventId } from "../../src/events/event-id";

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("access-event ids", () => {
  test("are UUIDv7 strings carrying the event's millisecond", () => {
    const at = Date.now() + 1;
    const id = eventId(at);
    expect(id).toMatch(UUID7);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(at);
  });

  test("never repeat and sort in the order they were made, within a millisecond, past 4096 in one, and when the clock steps back", () => {
    const now = Date.now() + 10;
    const ids = [
      ...Array.from({ length: 10_000 }, () => eventId(now)), // 10k in one millisecond: the counter overflows twice
      ...Array.from({ length: 100 }, () => eventId(now - 60_000)), // the clock stepped back a minute
      ...Array.from({ length: 100 }, (_, i) => eventId(now + 5 + i)),
    ];
    for (const id of ids) expect(id).toMatch(UUID7);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  test("differ in their random bits from millisecond to millisecond", () => {
    const t = Date.now() + 1000;
    const tails = new Set(Array.from({ length: 50 }, (_, i) => eventId(t + i).slice(19)));
    expect(tails.size).toBe(50);
  });
});

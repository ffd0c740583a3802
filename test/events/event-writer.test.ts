import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSql, type Sql } from "../../src/db/client";
import type { AccessEvent } from "../../src/events/copy-line";
import { EventWriter, type EventWriterOptions } from "../../src/events/event-writer";
import { encodeRecord, Journal, parseRecords } from "../../src/events/journal";
import { createTestDb, sleepUntil, type TestDb } from "../setup";
import { TcpProxy } from "../tcp-proxy";

let db: TestDb;
let proxy: TcpProxy;
let viaProxy: Sql;

beforeAll(async () => {
  db = await createTestDb();
  proxy = new TcpProxy("127.0.0.1", Number(new URL(db.url).port || 5432)).start();
  const u = new URL(db.url);
  u.host = `127.0.0.1:${proxy.port}`;
  viaProxy = createSql(u.toString(), { max: 2 });
});
afterAll(async () => {
  await viaProxy.end({ timeout: 1 });
  proxy.stop();
  await db.drop();
});

let n = 0;
const event = (gate: string): AccessEvent => ({
  id: Bun.randomUUIDv7(), at: Date.now(), gateId: gate, userId: "u_x", credentialId: null, isDevice: false,
  allow: n % 2 === 0, reason: n++ % 2 === 0 ? "granted" : "no_grant", revision: 1,
});
const count = async (gate: string) => (await db.sql`select count(*)::int as n, count(distinct id)::int as d from access_events where gate_id = ${gate}`)[0]!;
const journalRoot = () => mkdtempSync(join(tmpdir(), "pcl-journal-test-"));
const writer = (sql: Sql, root: string, o: Partial<EventWriterOptions> = {}) =>
  new EventWriter(sql, { flushMs: 5, journalDir: root, segmentBytes: 1024 * 1024, maxBytes: 50 * 1024 * 1024, fsyncMs: 0, whenFull: "refuse", ...o });
const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".seg"));

describe("event writer", () => {
  test("every event is in the journal before after() lets its answer go; then in Postgres exactly once", async () => {
    const root = journalRoot();
    const w = writer(db.sql, root);
    const seg = join(root, "0", segments(join(root, "0"))[0]!);
    for (let i = 0; i < 2345; i++) w.push(event("W1"));
    expect(statSync(seg).size).toBe(0); // nothing written yet: the tick's records go in one write
    const answer = w.after("answer");
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toBe("answer");
    expect(statSync(seg).size).toBeGreaterThan(2345 * 80);
    expect(w.writes).toBe(1);
    await sleepUntil(async () => (await count("W1")).n === 2345, "2345 events");
    expect(w.flushed).toBe(2345);
    expect(w.depth).toBe(0);
    expect(await w.stop()).toBe(true);
  });

  test("client-supplied gate ids with tabs, newlines, backslashes or NUL are stored and block nothing", async () => {
    const w = writer(db.sql, journalRoot());
    const odd = ["W6\tTAB", "W6\nNL", "W6\\BS", "W6\rCR", "W6\u0000NUL", "W6 ✓ ünïcödé"];
    for (const g of odd) w.push(event(g));
    for (let i = 0; i < 10; i++) w.push(event("W6"));
    await sleepUntil(async () => (await count("W6")).n === 10, "the ordinary events");
    const rows = await db.sql`select gate_id from access_events where gate_id like 'W6%' and gate_id <> 'W6' order by gate_id`;
    expect(rows.map((r) => r.gate_id).sort()).toEqual(["W6\tTAB", "W6\nNL", "W6\\BS", "W6\rCR", "W6\uFFFDNUL", "W6 ✓ ünïcödé"].sort());
    expect(w.rejected).toBe(0);
    await w.stop();
  });

  test("a journal shipped again (the watermark lost, or a COPY's acknowledgement) writes nothing twice", async () => {
    const root = journalRoot();
    const w = writer(db.sql, root);
    const e = event("W2");
    w.push(e);
    w.push({ ...e });
    for (let i = 0; i < 49; i++) w.push(event("W2"));
    await w.stop();
    expect(await count("W2")).toEqual({ n: 50, d: 50 });
    // As if the process had died between COPY's commit and the watermark: everything again.
    unlinkSync(join(root, "0", "shipped"));
    const again = writer(db.sql, root);
    again.start();
    await sleepUntil(() => again.replayed === 51, "the journal shipped again");
    expect(await count("W2")).toEqual({ n: 50, d: 50 });
    await again.stop();
  });

  test("while Postgres is unreachable events stay in the journal and are retried; after it returns all are written once", async () => {
    const w = writer(viaProxy, journalRoot());
    proxy.cut();
    for (let i = 0; i < 300; i++) w.push(event("W3"));
    await w.after(null);
    await sleepUntil(() => w.failed >= 2, "failed flushes");
    expect(w.depth).toBe(300);
    proxy.restore();
    await sleepUntil(async () => (await count("W3")).n === 300, "300 events after recovery", 15_000);
    expect(await count("W3")).toEqual({ n: 300, d: 300 });
    expect(await w.stop()).toBe(true);
  });

  test("a stop while Postgres is away leaves the events in the journal; the next start ships them exactly once", async () => {
    const root = journalRoot();
    const w = writer(viaProxy, root);
    proxy.cut();
    for (let i = 0; i < 250; i++) w.push(event("W5"));
    expect(await w.stop(300)).toBe(false);
    proxy.restore();
    const next = writer(db.sql, root);
    next.start();
    await sleepUntil(async () => (await count("W5")).n === 250, "replay at start", 10_000);
    expect(next.replayed).toBe(250);
    await next.stop();
    expect(await count("W5")).toEqual({ n: 250, d: 250 });
  });

  test("segments rotate by size and are deleted once shipped", async () => {
    const root = journalRoot();
    const w = writer(db.sql, root, { segmentBytes: 64 * 1024 });
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 500; i++) w.push(event("W7"));
      await w.after(null);
    }
    await sleepUntil(async () => (await count("W7")).n === 2500, "2500 events");
    await sleepUntil(() => segments(join(root, "0")).length === 1, "shipped segments deleted");
    expect(w.journalBytes).toBeLessThan(64 * 1024 + 500 * 200);
    await w.stop();
  });

  test("at the disk budget decisions are refused (503), counted and shown; with shed they are answered and the events counted as lost", async () => {
    const refusing = writer(viaProxy, journalRoot(), { maxBytes: 20_000, segmentBytes: 8_000 });
    proxy.cut();
    let refusal: any = null;
    for (let i = 0; i < 50 && refusal === null; i++) {
      for (let k = 0; k < 20; k++) refusing.push(event("W8"));
      await Promise.resolve(refusing.after(null)).catch((e) => (refusal = e));
    }
    expect(refusal?.code).toBe("unavailable");
    expect(refusal?.details).toEqual({ reason: "event_journal_full" });
    expect(refusing.full).toBe(true);
    expect(refusing.refused).toBe(20);
    const shedding = writer(viaProxy, journalRoot(), { maxBytes: 20_000, segmentBytes: 8_000, whenFull: "shed" });
    for (let i = 0; i < 30; i++) {
      for (let k = 0; k < 20; k++) shedding.push(event("W9"));
      await shedding.after(null);
    }
    expect(shedding.shed).toBeGreaterThan(0);
    expect(shedding.full).toBe(true);
    proxy.restore();
    // Back under the budget once Postgres has the backlog.
    await sleepUntil(async () => {
      refusing.push(event("W8"));
      return Promise.resolve(refusing.after(true)).catch(() => false);
    }, "refusing answers again", 15_000);
    expect(refusing.full).toBe(false);
    const accepted = (await count("W8")).n;
    expect(accepted + refusing.refused).toBe(refusing.flushed + refusing.refused);
    await refusing.stop();
    await shedding.stop();
  });

  test("the journal a stopped process left behind is shipped by the primary and removed", async () => {
    const root = journalRoot();
    const gone = writer(viaProxy, root, { journalIndex: 3 });
    proxy.cut();
    for (let i = 0; i < 120; i++) gone.push(event("W10"));
    await gone.stop(100);
    proxy.restore();
    expect(existsSync(join(root, "3"))).toBe(true);
    const primary = writer(db.sql, root, { adoptOrphans: true });
    primary.start();
    await sleepUntil(async () => (await count("W10")).n === 120, "the orphaned journal shipped", 10_000);
    await sleepUntil(() => !existsSync(join(root, "3")), "its directory removed");
    await primary.stop();
  });

  test("spill files an earlier version left behind are moved into the journal and shipped, once", async () => {
    const spill = mkdtempSync(join(tmpdir(), "pcl-spill-"));
    const old = Array.from({ length: 30 }, () => event("W11"));
    writeFileSync(join(spill, "events-1-1-abc.ndjson"), old.map((e) => JSON.stringify(e)).join("\n") + "\n" + '{"id":"torn');
    const w = writer(db.sql, journalRoot(), { adoptOrphans: true, legacySpillDir: spill });
    w.start();
    await sleepUntil(async () => (await count("W11")).n === 30, "the spilled events in Postgres");
    expect(readdirSync(spill)).toEqual([]);
    await w.stop();
    expect(await count("W11")).toEqual({ n: 30, d: 30 });
  });

  test("a journal held by a live process is neither written nor shipped by another", async () => {
    const root = journalRoot();
    const a = writer(db.sql, root);
    const b = writer(db.sql, root);
    expect(a.journalPath).toBe(join(root, "0"));
    expect(b.journalPath).toBe(join(root, "1"));
    expect(Journal.adopt(join(root, "0"), { segmentBytes: 1 << 20, maxBytes: 1 << 30 })).toBeNull();
    await a.stop();
    await b.stop();
  });
});

describe("journal reader", () => {
  const line = (i: number) => `0190a8b0-0000-7000-8000-${String(i).padStart(12, "0")}\t2026-11-22T12:00:01.123Z\tG\tu\t\\N\tt\tgranted\t1\n`;

  test("a segment whose last record was torn mid-write is read up to its last whole record", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "pcl-torn-")), "0");
    mkdirSync(dir);
    const buf = Buffer.alloc(64 * 1024);
    let off = 0;
    for (let i = 0; i < 10; i++) off = encodeRecord(buf, off, line(i), i === 3);
    const whole = off;
    off = encodeRecord(buf, off, line(10), false);
    // The segment ends 7 bytes into the 11th record's payload: a crash during its write(2).
    appendFileSync(join(dir, "000000000001.seg"), buf.subarray(0, whole + 8 + 7));
    // A second segment after it, whole: reading goes on there.
    const more = Buffer.alloc(4096);
    const m = encodeRecord(more, 0, line(11), false);
    appendFileSync(join(dir, "000000000002.seg"), more.subarray(0, m));
    const j = Journal.adopt(dir, { segmentBytes: 1 << 20, maxBytes: 1 << 30 })!;
    const torn: number[] = [];
    j.onTorn = (_s, offset) => torn.push(offset);
    const first = j.read(1 << 20)!;
    expect(first.count).toBe(10);
    expect(first.end).toBe(whole);
    expect(first.copy.toString()).toBe(Array.from({ length: 10 }, (_, i) => line(i)).join(""));
    expect(first.devices).toEqual([line(3)]);
    j.advance(first);
    const second = j.read(1 << 20)!;
    expect(torn).toEqual([whole]);
    expect(second.count).toBe(1);
    expect(second.copy.toString()).toBe(line(11));
    j.advance(second);
    expect(j.read(1 << 20)).toBeNull();
    j.close();
  });

  test("a record whose checksum does not match ends the readable part", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "pcl-crc-")), "0");
    mkdirSync(dir);
    const buf = Buffer.alloc(4096);
    let off = 0;
    for (let i = 0; i < 3; i++) off = encodeRecord(buf, off, line(i), false);
    buf[off - 5] = buf[off - 5]! ^ 0xff; // a flipped byte in the third record's payload
    appendFileSync(join(dir, "000000000001.seg"), buf.subarray(0, off));
    const j = Journal.adopt(dir, { segmentBytes: 1 << 20, maxBytes: 1 << 30 })!;
    expect(j.read(1 << 20)!.count).toBe(2);
    j.close();
  });
});

describe("the verify path's record()", () => {
  test("writes the same COPY line as push() of the same event, with a fresh UUIDv7 id; stateful events keep theirs", async () => {
    const root = journalRoot();
    const w = writer(db.sql, root);
    const at = Date.UTC(2026, 11, 4, 18, 0, 1, 7);
    const base = { allow: true, reason: "granted", userId: "u_1", credentialId: "c_1", credentialKind: "card" as const };
    w.record(base, "R1\ttab", 42, at);
    w.record({ ...base, allow: false, reason: "unknown_token", userId: undefined, credentialId: undefined, credentialKind: undefined }, "R1", 43, at + 1);
    w.record({ ...base, credentialKind: "device" }, "R1 ✓", 44, at + 2);
    const extra = { id: "0190a8b0-0000-7000-8000-000000000001", zoneId: "z_1", direction: "in" as const, flags: ["anti_passback_soft"], peerEventId: null, peerUserId: null };
    w.record(base, "R1", 45, at + 3, extra);
    await w.after(null);
    const seg = join(root, "0", segments(join(root, "0"))[0]!);
    const recs = parseRecords(Buffer.from(await Bun.file(seg).arrayBuffer()));
    expect(recs.count).toBe(4);
    const lines = recs.copy.toString("utf8").split("\n").slice(0, 4).map((l) => l.split("\t"));
    const uuid7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const l of lines.slice(0, 3)) expect(l[0]).toMatch(uuid7);
    expect(lines[0]!.slice(1)).toEqual(["2026-12-04T18:00:01.007Z", "R1\\ttab", "u_1", "c_1", "t", "granted", "42", "\\N", "\\N", "\\N", "\\N", "\\N"]);
    expect(lines[1]!.slice(1)).toEqual(["2026-12-04T18:00:01.008Z", "R1", "\\N", "\\N", "f", "unknown_token", "43", "\\N", "\\N", "\\N", "\\N", "\\N"]);
    expect(lines[2]!.slice(1)).toEqual(["2026-12-04T18:00:01.009Z", "R1 ✓", "u_1", "c_1", "t", "granted", "44", "\\N", "\\N", "\\N", "\\N", "\\N"]);
    expect(lines[3]).toEqual([extra.id, "2026-12-04T18:00:01.010Z", "R1", "u_1", "c_1", "t", "granted", "45", "z_1", "in", "{anti_passback_soft}", "\\N", "\\N"]);
    expect(recs.devices.length).toBe(1); // the device credential's event advances its last_seen_at
    // push() of the same event gives the same line.
    const w2 = writer(db.sql, journalRoot());
    const root2 = (w2 as any).journal.dir as string;
    w2.push({ id: lines[0]![0]!, at, gateId: "R1\ttab", userId: "u_1", credentialId: "c_1", isDevice: false, allow: true, reason: "granted", revision: 42 });
    await w2.after(null);
    const seg2 = join(root2, segments(root2)[0]!);
    expect(parseRecords(Buffer.from(await Bun.file(seg2).arrayBuffer())).copy.toString("utf8")).toBe(recs.copy.toString("utf8").split("\n")[0] + "\n");
    // In Postgres: four events — the pushed one is the first again (same id and time), stored once.
    await sleepUntil(() => w.depth === 0 && w2.depth === 0, "both shipped");
    expect((await db.sql`select count(*)::int as n from access_events where gate_id like 'R1%'`)[0]!.n).toBe(4);
    expect(await w.stop()).toBe(true);
    expect(await w2.stop()).toBe(true);
  });
});

describe("the journal's watermark", () => {
  test("is rewritten in place, fixed width, over an earlier version's; a restart reads it and ships nothing again", async () => {
    const root = journalRoot();
    const w = writer(db.sql, root);
    for (let i = 0; i < 20; i++) w.push(event("WM1"));
    await w.stop();
    const mark = join(root, "0", "shipped");
    const text = await Bun.file(mark).text();
    expect(text).toMatch(/^\d{12} \d{16}\n$/);
    const [seq, offset] = text.trim().split(" ").map(Number);
    expect(offset).toBeGreaterThan(20 * 80);
    // An earlier version's watermark (shorter, not padded) is read, then overwritten whole.
    writeFileSync(mark, `${seq} ${offset}\n`);
    const again = writer(db.sql, root);
    again.start();
    for (let i = 0; i < 5; i++) again.push(event("WM1"));
    await again.stop();
    expect(again.replayed).toBe(0);
    expect(await count("WM1")).toEqual({ n: 25, d: 25 });
    expect(await Bun.file(mark).text()).toMatch(/^\d{12} \d{16}\n$/);
  });
});

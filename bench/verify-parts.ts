// The parts of a verify that issue #17's per-request work changed, timed in-process for several
// trees side by side (e.g. main before the change and after it), alternating, the best of the
// repetitions: what each part costs per request, without HTTP and without the noise of a machine
// that other work shares (the HTTP figure is bench/verify-ab.ts's).
//
//   BENCH_TREES=base=/tmp/pcl-base,new=. bun bench/verify-parts.ts
//
// Parts: recording an access event (EventWriter.record into the tick's buffer, the journal write
// of each tick of 16 events, and the await of it), the ship watermark (Journal.advance after a
// shipped batch), and the verify answer (its JSON and the Response with its two headers).
// No Postgres is touched: nothing is shipped during the timing (EVENT_FLUSH_MS is set far off).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROOT } from "./harness";

const trees = (process.env.BENCH_TREES || `this=${ROOT}`).split(",").map((x) => {
  const eq = x.indexOf("=");
  return { name: x.slice(0, eq), dir: resolve(x.slice(eq + 1)) };
});
const REPS = Number(process.env.BENCH_REPS || 7);
const EVENTS = 50_000;
const TICK = 16;
const JSON_TYPE = "application/json;charset=utf-8";

interface Parts {
  record(): Promise<number>;
  watermark(): number;
  answer(): number;
}

const decision = { allow: true, reason: "granted", userId: "u_bench_0000123", credentialId: "c_bench_00000456", credentialKind: "card", deviceRevoked: false, unlockMs: 3000 };

async function partsOf(dir: string): Promise<Parts> {
  const { EventWriter } = await import(join(dir, "src/events/event-writer.ts"));
  const verify = await import(join(dir, "src/http/verify.ts"));
  const root = mkdtempSync(join(tmpdir(), "pcl-parts-"));
  const w = new EventWriter(null as any, { flushMs: 10_000_000, journalDir: root, segmentBytes: 2 ** 30, maxBytes: 2 ** 40, fsyncMs: 0, whenFull: "refuse" });
  const journal = (w as any).journal;
  const outcome = { decision, gateId: "g_bench_000123", revision: 42, refusal: null, index: null };
  // The answer as each tree's native route makes it: the text when the tree has verifyAnswerText, else JSON.stringify of the object.
  const text = typeof verify.verifyAnswerText === "function" ? () => verify.verifyAnswerText(outcome) : () => JSON.stringify(verify.verifyAnswer(outcome));
  let seq = 0;
  return {
    async record() {
      const t0 = Bun.nanoseconds();
      for (let i = 0; i < EVENTS; i += TICK) {
        const now = Date.now();
        for (let k = 0; k < TICK; k++) w.record(decision, "g_bench_000123", 42, now);
        await w.after(null);
      }
      return (Bun.nanoseconds() - t0) / EVENTS;
    },
    watermark() {
      const n = 2000;
      const t0 = Bun.nanoseconds();
      for (let i = 0; i < n; i++) journal.advance({ seq: journal.currentSegment, start: 0, end: 1000 + i, count: 0, copy: Buffer.alloc(0), devices: [] });
      return (Bun.nanoseconds() - t0) / n;
    },
    answer() {
      const n = 100_000;
      let keep: Response | null = null;
      const t0 = Bun.nanoseconds();
      for (let i = 0; i < n; i++) keep = new Response(text(), { headers: { "content-type": JSON_TYPE, "x-request-id": "mx9abcd-" + (++seq).toString(36) } });
      void keep;
      return (Bun.nanoseconds() - t0) / n;
    },
  };
}

const all = await Promise.all(trees.map(async (t) => ({ ...t, parts: await partsOf(t.dir) })));
const best: Record<string, { record: number; watermark: number; answer: number }> = {};
for (let r = 0; r < REPS; r++) {
  for (const t of all) {
    const b = (best[t.name] ??= { record: Infinity, watermark: Infinity, answer: Infinity });
    Bun.gc(true);
    b.record = Math.min(b.record, await t.parts.record());
    b.watermark = Math.min(b.watermark, t.parts.watermark());
    Bun.gc(true);
    b.answer = Math.min(b.answer, t.parts.answer());
  }
}
const us = (ns: number) => (ns / 1000).toFixed(2).padStart(8);
console.log(`best of ${REPS} (µs): record = an access event recorded and its tick's journal write awaited (${TICK} a tick), per event;`);
console.log("watermark = Journal.advance after a shipped batch, per batch; answer = the answer's JSON + its Response, per request\n");
console.log(`${"tree".padEnd(10)}${"record".padStart(8)}${"watermark".padStart(11)}${"answer".padStart(8)}`);
for (const t of all) console.log(`${t.name.padEnd(10)}${us(best[t.name]!.record!)}${us(best[t.name]!.watermark!).padStart(11)}${us(best[t.name]!.answer!)}`);
process.exit(0);

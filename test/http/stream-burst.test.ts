// The live event stream under a burst, on a real process: 20,000 decisions a second for 5 s, and
// a watcher that keeps reading receives every one of them.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashSecret, newSecret } from "../../src/tokens";
import { createTestDb, freePort, sleepUntil, type TestDb } from "../setup";
import { type Portcullis, ready, startPortcullis } from "../ops/processes";

let db: TestDb;
let p: Portcullis;
const admin = newSecret();
const card = newSecret();

beforeAll(async () => {
  db = await createTestDb();
  const [u] = await db.sql`insert into users (username) values ('burst') returning id`;
  await db.sql`insert into gates (id, name) values ('BURST', 'burst')`;
  await db.sql`insert into grants (subject_user_id, target_gate_id) values (${u!.id}, 'BURST')`;
  await db.sql`insert into credentials (user_id, kind, secret_hash) values (${u!.id}, 'card', ${hashSecret(card)})`;
  p = startPortcullis({ DATABASE_URL: db.url, WORKERS: "1", ADMIN_BOOTSTRAP_TOKEN: admin, DATA_DIR: mkdtempSync(join(tmpdir(), "pcl-burst-")) }, await freePort());
  await ready(p, 1);
});
afterAll(async () => {
  p.proc.kill("SIGTERM");
  await p.proc.exited;
  await db.drop();
});

test("a watcher that keeps reading receives every event of a 20,000 decisions/s burst lasting 5 s", async () => {
  const res = await fetch(`${p.base}/api/v1/admin/events/stream?gate_id=BURST`, { headers: { authorization: `Bearer ${admin}` } });
  expect(res.status).toBe(200);
  const ids = new Set<string>();
  let ended = false;
  const reader = res.body!.getReader();
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value: chunk, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(chunk, { stream: true });
      let at = 0;
      for (let i = buf.indexOf("id: ", at); i >= 0; i = buf.indexOf("id: ", at)) {
        const nl = buf.indexOf("\n", i);
        if (nl < 0) break;
        ids.add(buf.slice(i + 4, nl));
        at = nl + 1;
      }
      buf = buf.slice(at);
    }
    ended = true;
  })();
  // The stream answered: its subscription exists; every decision from now on is for it.

  // 100 batches of 1,000 decisions, one every 50 ms: 20,000 decisions a second for 5 s.
  const body = JSON.stringify({ checks: Array.from({ length: 1000 }, () => ({ gate_id: "BURST", token: card })) });
  const t0 = Date.now();
  const sent: Array<Promise<number>> = [];
  for (let i = 0; i < 100; i++) {
    const due = t0 + i * 50;
    if (due > Date.now()) await Bun.sleep(due - Date.now());
    sent.push(fetch(`${p.base}/api/v1/access/verify/batch`, { method: "POST", headers: { "content-type": "application/json" }, body }).then((r) => r.status));
  }
  expect(new Set(await Promise.all(sent))).toEqual(new Set([200]));
  await sleepUntil(() => ids.size >= 100_000 || ended, "100,000 events on the stream", 30_000);
  expect(ended).toBe(false);
  expect(ids.size).toBe(100_000);
  const { n } = (await db.sql`select count(*)::int as n from access_events where gate_id = 'BURST'`)[0]!;
  expect(n).toBe(100_000);
  await reader.cancel().catch(() => {});
  await reading.catch(() => {});
}, 60_000);

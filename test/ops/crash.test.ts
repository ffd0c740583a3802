// A crash loses no decision: real processes SIGKILLed under load, restarted on the same data, and
// every 200 answer they gave is an access event in Postgres — per gate, exactly once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashSecret, newSecret } from "../../src/tokens";
import { createTestDb, freePort, sleepUntil, type TestDb } from "../setup";
import { childPids, exited, ready, startPortcullis, verifyLoad } from "./processes";

let db: TestDb;
let card: string;
beforeAll(async () => {
  db = await createTestDb();
  card = newSecret();
  const [u] = await db.sql`insert into users (username) values ('crash') returning id`;
  await db.sql`insert into credentials (user_id, kind, secret_hash) values (${u!.id}, 'card', ${hashSecret(card)})`;
});
afterAll(() => db.drop());

/** Gates of one round, half of them granted to the card (allowed and denied answers both count). */
async function roundGates(prefix: string): Promise<string[]> {
  const gates = [0, 1, 2, 3].map((k) => `${prefix}_${k}`);
  const [u] = await db.sql`select id from users where username = 'crash'`;
  for (const g of gates) await db.sql`insert into gates (id, name) values (${g}, ${g})`;
  for (const g of gates.slice(0, 2)) await db.sql`insert into grants (subject_user_id, target_gate_id) values (${u!.id}, ${g})`;
  return gates;
}

const eventsOf = async (gates: string[]) => {
  const rows = await db.sql`select gate_id, count(*)::int as n, count(distinct id)::int as d from access_events where gate_id in ${db.sql(gates)} group by gate_id`;
  return new Map(rows.map((r) => [r.gate_id as string, { n: r.n as number, d: r.d as number }]));
};

/**
 * Every gate has an event for each 200 answer it got (and no event twice); at most one more per
 * connection — a request journaled and decided while the kill came, whose answer never arrived.
 */
async function expectEveryAnswerRecorded(answered: Map<string, number>, gates: string[], connections: number): Promise<void> {
  const total = [...answered.values()].reduce((a, b) => a + b, 0);
  const covered = async () => {
    const ev = await eventsOf(gates);
    return gates.every((g) => (ev.get(g)?.n ?? 0) >= (answered.get(g) ?? 0)) ? ev : null;
  };
  const ev = await sleepUntil(covered, "an event for every 200 answer", 15_000).catch(async () => {
    const got = await eventsOf(gates);
    throw new Error(`answers ${JSON.stringify([...answered])} vs events ${JSON.stringify([...got])}`);
  });
  let events = 0;
  for (const g of gates) {
    const e = ev.get(g)!;
    expect(e.d).toBe(e.n);
    expect(e.n).toBeGreaterThanOrEqual(answered.get(g) ?? 0);
    events += e.n;
  }
  expect(events).toBeLessThanOrEqual(total + connections);
}

describe("crash safety of access events", () => {
  for (const workers of [1, 2]) {
    test(`SIGKILL under load (64 connections, WORKERS=${workers}), restart: every 200 answer is an event, five times in a row`, async () => {
      const port = await freePort();
      const dataDir = mkdtempSync(join(tmpdir(), `pcl-crash-${workers}-`));
      const env = { DATABASE_URL: db.url, WORKERS: String(workers), DATA_DIR: dataDir };
      const rounds: Array<{ gates: string[]; answered: Map<string, number> }> = [];
      for (let round = 0; round < 5; round++) {
        const gates = await roundGates(`CR${workers}_${round}`);
        const p = startPortcullis(env, port);
        await ready(p, workers);
        // The previous round's answers (killed before they were shipped) are in Postgres now.
        if (round > 0) await expectEveryAnswerRecorded(rounds[round - 1]!.answered, rounds[round - 1]!.gates, 64);
        const load = verifyLoad(p.base, gates, card, 64);
        await sleepUntil(() => load.total() >= 1000, "1000 answers", 20_000);
        // The whole host crashes: every process at once.
        for (const pid of [...childPids(p.proc.pid), p.proc.pid]) process.kill(pid, "SIGKILL");
        await p.proc.exited;
        await load.stop();
        rounds.push({ gates, answered: load.answered });
        if (workers === 2) expect([...load.answered.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1000);
      }
      const p = startPortcullis(env, port);
      await ready(p, workers);
      for (const r of rounds) await expectEveryAnswerRecorded(r.answered, r.gates, 64);
      p.proc.kill("SIGTERM");
      expect(await p.proc.exited).toBe(0);
    }, 60_000);
  }

  test("a kill in the middle of a COPY: the batch is shipped again at the next start, exactly once", async () => {
    const port = await freePort();
    const env = { DATABASE_URL: db.url, WORKERS: "1", DATA_DIR: mkdtempSync(join(tmpdir(), "pcl-crash-copy-")) };
    const gates = await roundGates("CRCOPY");
    const p = startPortcullis(env, port);
    await ready(p, 1);
    // Hold the events table, so the writer's COPY starts and waits inside Postgres.
    const holder = await db.sql.reserve();
    await holder`begin`;
    await holder`lock table access_events in exclusive mode`;
    try {
      const load = verifyLoad(p.base, gates, card, 64);
      await sleepUntil(() => load.total() >= 1000, "1000 answers (verifies do not wait for Postgres)", 20_000);
      await sleepUntil(async () => (await db.sql`
        select 1 from pg_stat_activity where datname = ${db.name} and query ilike 'copy%access_events%' and wait_event_type = 'Lock'`).length > 0,
        "a COPY waiting inside Postgres", 10_000);
      p.proc.kill("SIGKILL");
      await p.proc.exited;
      await load.stop();
      await holder`rollback`;
      holder.release();
      const again = startPortcullis(env, port);
      await ready(again, 1);
      await expectEveryAnswerRecorded(load.answered, gates, 64);
      again.proc.kill("SIGTERM");
      expect(await again.proc.exited).toBe(0);
    } finally {
      await holder`rollback`.catch(() => {});
      holder.release();
    }
  }, 40_000);

  test("the primary SIGKILLed with WORKERS=2: its worker exits within 1 s; a new primary never shares the port with it", async () => {
    const port = await freePort();
    const env = { DATABASE_URL: db.url, WORKERS: "2", DATA_DIR: mkdtempSync(join(tmpdir(), "pcl-crash-orphan-")) };
    const gates = await roundGates("CRORPHAN");
    const p = startPortcullis(env, port);
    await ready(p, 2);
    const [worker] = childPids(p.proc.pid);
    expect(worker).toBeGreaterThan(0);
    const load = verifyLoad(p.base, gates, card, 64);
    await sleepUntil(() => load.total() >= 1000, "1000 answers", 20_000);
    p.proc.kill("SIGKILL");
    const killedAt = Date.now();
    // Started at once, while the orphan may still be there: it waits for the port instead of sharing it.
    const next = startPortcullis(env, port);
    await sleepUntil(() => exited(worker!), "the orphaned worker to exit", 3000);
    expect(Date.now() - killedAt).toBeLessThan(1000);
    await ready(next, 2);
    await load.stop();
    await expectEveryAnswerRecorded(load.answered, gates, 64);
    next.proc.kill("SIGTERM");
    expect(await next.proc.exited).toBe(0);
  }, 40_000);
});

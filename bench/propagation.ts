// Acknowledged writes: what waiting for every node costs a write, and how long a revoke takes to
// be refused everywhere — at 1, 2 and 4 nodes (separate `bun src/main.ts` processes, WORKERS=1
// each, one scratch database), each beside its baseline in the same run: the same cluster with
// the answering process at PROPAGATION_TIMEOUT_MS=0 (acknowledgement off: it answers at COMMIT).
// On and off rounds alternate, so noise from other load on the machine hits both.
//
//   bun bench/propagation.ts        (BENCH_PROP_WRITES=300 per round, BENCH_PROP_ROUNDS=2,
//                                    BENCH_PROP_NODES=1,2,4, BENCH_PG_URL)
//
// Writes: sequential PATCHes of one zone's name (each a revision every node applies), over one
// keep-alive connection. Revoke → refused: a card granted at a gate, revoked through the answering
// process; every node is polled with verifies (no min_revision) from the moment the revoke is sent
// until each refuses; "allowed after the answer" counts verifies that still let the card through
// after the revoke had answered.
import { hashSecret, newSecret } from "../src/tokens";
import {
  createScratchDb, dropScratchDb, fmtMs, freePort, int, runMain, say, setPg, spawnChild, stopChild, table, trackedSql,
  waitReady, type Spawned,
} from "./harness";

const WRITES = int("BENCH_PROP_WRITES", 300);
const ROUNDS = int("BENCH_PROP_ROUNDS", 2);
const REVOKES = int("BENCH_PROP_REVOKES", 40);
const NODES = (process.env.BENCH_PROP_NODES ?? "1,2,4").split(",").map(Number);
const PG = process.env.BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
};

interface Node {
  s: Spawned;
  base: string;
}

async function startNode(name: string, url: string, ackMs: number): Promise<Node> {
  const port = freePort();
  const s = spawnChild(name, ["bun", "src/main.ts"], {
    DATABASE_URL: url, PORT: String(port), HOST: "127.0.0.1", WORKERS: "1", LOG_LEVEL: "error", DEMO_DATA: "0",
    PROPAGATION_TIMEOUT_MS: String(ackMs), DATA_DIR: `/tmp/pcl-bench-prop-${process.pid}-${port}`,
  }, { quiet: true });
  const base = `http://127.0.0.1:${port}`;
  await waitReady(name, s, `${base}/readyz`, 60_000, 50);
  return { s, base };
}

async function main(): Promise<void> {
  const admin = setPg(PG, false);
  void admin;
  const rows: string[][] = [["nodes", "write p50 ack off", "p50 ack on", "write p99 ack off", "p99 ack on", "Δp99", "revoke→refused everywhere p50 / p99 (ack on)", "allowed after answer: off / on"]];
  for (const n of NODES) {
    const name = `pcl_bench_prop_${process.pid}_${n}`;
    const url = await createScratchDb(name);
    const sql = trackedSql(url, { max: 2 });
    const { migrate } = await import("../src/db/migrate");
    await migrate(sql);
    const token = newSecret();
    const [u] = await sql`insert into users (username) values ('bench-admin') returning id`;
    await sql`insert into credentials (user_id, kind, scopes, secret_hash) values (${u!.id}, 'api', ${["admin"]}, ${hashSecret(token)})`;
    const [z] = await sql`insert into zones (name) values ('bench-zone') returning id`;
    const [card] = await sql`insert into users (username) values ('bench-card') returning id`;
    await sql`insert into gates (id, name) values ('BP_1', 'door')`;
    await sql`insert into grants (subject_user_id, target_gate_id) values (${card!.id}, 'BP_1')`;
    const followers: Node[] = [];
    for (let i = 1; i < n; i++) followers.push(await startNode(`n${n}-follower${i}`, url, 2000));
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const lat: Record<"on" | "off", number[]> = { on: [], off: [] };
    const refusedMs: number[] = [];
    const allowedAfter: Record<"on" | "off", number> = { on: 0, off: 0 };
    let k = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of (round % 2 ? ["on", "off"] : ["off", "on"]) as Array<"on" | "off">) {
        const w = await startNode(`n${n}-writer-${mode}`, url, mode === "on" ? 2000 : 0);
        const all = [w, ...followers];
        // Wait until the writer is in every node's view (it registered; the others see it at their next heartbeat).
        for (let i = 0; i < 20; i++) await fetch(`${w.base}/api/v1/admin/zones/${z!.id}`, { method: "PATCH", headers, body: JSON.stringify({ name: `warm-${k++}` }) });
        for (let i = 0; i < WRITES; i++) {
          const t0 = performance.now();
          const r = await fetch(`${w.base}/api/v1/admin/zones/${z!.id}`, { method: "PATCH", headers, body: JSON.stringify({ name: `z-${k++}` }) });
          await r.arrayBuffer();
          lat[mode].push(performance.now() - t0);
          if (r.status !== 200) throw new Error(`write answered ${r.status}`);
          if (mode === "on" && r.headers.get("x-propagation") !== "complete") throw new Error(`write propagation ${r.headers.get("x-propagation")}`);
        }
        for (let i = 0; i < REVOKES / ROUNDS / 2; i++) {
          const c = await (await fetch(`${w.base}/api/v1/admin/credentials`, { method: "POST", headers, body: JSON.stringify({ user_id: card!.id, kind: "card" }) })).json() as any;
          const verify = (b: string) => fetch(`${b}/api/v1/access/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ gate_id: "BP_1", token: c.secret }) }).then((r) => r.json() as Promise<any>);
          // The card passes everywhere first (acknowledged create; with ack off, wait for it).
          for (const node of all) while (!(await verify(node.base)).allow) await Bun.sleep(1);
          const t0 = performance.now();
          let answeredAt = Infinity;
          const revoke = fetch(`${w.base}/api/v1/admin/credentials/${c.id}/revoke`, { method: "POST", headers }).then(async (r) => {
            await r.arrayBuffer();
            answeredAt = performance.now();
          });
          const done = await Promise.all(all.map(async (node) => {
            for (;;) {
              const sent = performance.now();
              const v = await verify(node.base);
              if (!v.allow) return performance.now();
              if (sent > answeredAt) allowedAfter[mode]++;
            }
          }));
          await revoke;
          if (mode === "on") refusedMs.push(Math.max(...done) - t0);
        }
        await stopChild(w.s.proc);
      }
    }
    for (const f of followers) await stopChild(f.s.proc);
    await sql.end({ timeout: 2 });
    await dropScratchDb(name);
    const [p50off, p50on, p99off, p99on] = [pct(lat.off, 50), pct(lat.on, 50), pct(lat.off, 99), pct(lat.on, 99)];
    rows.push([String(n), fmtMs(p50off), fmtMs(p50on), fmtMs(p99off), fmtMs(p99on), fmtMs(p99on - p99off),
      `${fmtMs(pct(refusedMs, 50))} / ${fmtMs(pct(refusedMs, 99))}`, `${allowedAfter.off} / ${allowedAfter.on}`]);
    say(`${n} node(s): ${lat.on.length} writes with acknowledgement, ${lat.off.length} without; ${refusedMs.length} revokes`);
  }
  say(`\nAcknowledged writes — ${new Date().toISOString()} — ${WRITES} sequential writes × ${ROUNDS} rounds per mode and node count, one process per node (WORKERS=1)`);
  say(table(rows));
}

await runMain(main, 30 * 60_000);

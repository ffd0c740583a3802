// The propagation probe: a committed write until the verify answer of every process changed, against raw NOTIFY round trips.
import type { VerifyPair } from "../graph";
import { secretFor } from "../ids";
import { endSql, fmtMs, say, sleep, trackedSql, VERIFY_PATH, within } from "../harness";
import { S, graph, pcts, type Server } from "./context";
import { Http1, processIds } from "./http1";

export interface Propagation {
  samples: number;
  /** Write sent → the answer of the LAST process to change, ms. */
  allMs: ReturnType<typeof pcts>;
  /** Write sent → each process's change, ms. */
  perProcessMs: ReturnType<typeof pcts>[];
  /** Write sent → the write's commit acknowledged to the writer, ms. */
  commitAckMs: ReturnType<typeof pcts>;
  /** The probe's own verify round trip (the resolution of "changed at"), ms. */
  pollRttMs: ReturnType<typeof pcts>;
  notifyMs: ReturnType<typeof pcts>;
  /** A committed one-row UPDATE and its NOTIFY in one statement → received: the floor for any write's propagation (WAL flush included). */
  writeNotifyMs: ReturnType<typeof pcts>;
  /** Commit acknowledged → the answer of the last process changed (negative: changed before the ack arrived). */
  fromAckMs: ReturnType<typeof pcts>;
}

export async function measurePropagation(sv: Server, url: string, pairs: VerifyPair[]): Promise<Propagation> {
  const conns = [...(await processIds(sv.port, 64)).values()];
  if (conns.length < 2) throw new Error("propagation: could not reach two distinct processes");
  // Credentials that are granted now: a revocation flips them to revoked_token, a reinstatement back.
  const candidates: Array<{ token: string; gate: string; id: string }> = [];
  for (const p of pairs) {
    if (candidates.length >= 50) break;
    const r = JSON.parse((await conns[0]!.request("POST", VERIFY_PATH, JSON.stringify({ gate_id: p.gate_id, token: p.token }))).body) as { reason: string };
    const n = Number(/(\d+)$/.exec(p.token)![1]);
    if (r.reason === "granted" && p.token === secretFor(n)) candidates.push({ token: p.token, gate: p.gate_id, id: `c_bench_${String(n).padStart(9, "0")}` });
  }
  if (candidates.length < 2) throw new Error("propagation: no granted credentials among the load bodies");
  const writer = trackedSql(url, { max: 1 });
  const listener = trackedSql(url, { max: 1 });
  const notifier = trackedSql(url, { max: 1 });
  await writer`select 1`;
  const all: number[] = [], ack: number[] = [], rtt: number[] = [], notify: number[] = [], writeNotify: number[] = [], fromAck: number[] = [];
  const per: number[][] = conns.map(() => []);
  const reasonOf = async (c: Http1, body: string) => {
    const t = performance.now();
    const r = JSON.parse((await c.request("POST", VERIFY_PATH, body)).body) as { reason: string };
    rtt.push(performance.now() - t);
    return r.reason;
  };
  for (let i = 0; i < S.propagationSamples; i++) {
    const cand = candidates[i % candidates.length]!;
    const body = JSON.stringify({ gate_id: cand.gate, token: cand.token });
    const before = await Promise.all(conns.map((c) => reasonOf(c, body)));
    if (before[0] !== before[1]) throw new Error(`propagation: processes disagree before the write: ${before.join(" / ")}`);
    const t0 = performance.now();
    const write = writer`update credentials set revoked_at = case when revoked_at is null then now() end where id = ${cand.id}`.then(() => ack.push(performance.now() - t0));
    const changed = await within(10_000, "propagation", Promise.all(conns.map(async (c, k) => {
      for (;;) {
        const r = await reasonOf(c, body);
        if (r !== before[k]) {
          const ms = performance.now() - t0;
          per[k]!.push(ms);
          return ms;
        }
      }
    })));
    await write;
    all.push(Math.max(...changed));
    fromAck.push(Math.max(...changed) - ack[ack.length - 1]!);
    await sleep(10 + (i % 7) * 3);
  }
  // The baseline: NOTIFY sent → received by a LISTEN connection, through the same driver.
  let got: ((at: number) => void) | null = null;
  await listener.listen("pcl_bench_rt", () => got?.(performance.now()));
  await notifier`select 1`;
  for (let i = 0; i < S.propagationSamples; i++) {
    const received = new Promise<number>((resolve) => (got = resolve));
    const t0 = performance.now();
    await notifier`select pg_notify('pcl_bench_rt', ${String(i)})`;
    notify.push((await within(10_000, "notify round trip", received)) - t0);
    await sleep(10 + (i % 7) * 3);
  }
  // The floor for a committed write: one UPDATE and its NOTIFY in one autocommit statement.
  await notifier`create table if not exists pcl_bench_rt (n int not null)`;
  await notifier`insert into pcl_bench_rt select 0 where not exists (select 1 from pcl_bench_rt)`;
  for (let i = 0; i < S.propagationSamples; i++) {
    const received = new Promise<number>((resolve) => (got = resolve));
    const t0 = performance.now();
    await notifier`with u as (update pcl_bench_rt set n = n + 1 returning n) select pg_notify('pcl_bench_rt', n::text) from u`;
    writeNotify.push((await within(10_000, "write + notify round trip", received)) - t0);
    await sleep(10 + (i % 7) * 3);
  }
  for (const c of conns) c.close();
  await endSql(writer);
  await endSql(listener);
  await endSql(notifier);
  const res: Propagation = {
    samples: all.length, allMs: pcts(all), perProcessMs: per.map(pcts), commitAckMs: pcts(ack), pollRttMs: pcts(rtt), notifyMs: pcts(notify),
    writeNotifyMs: pcts(writeNotify), fromAckMs: pcts(fromAck),
  };
  say(`  write → changed at both: p50 ${fmtMs(res.allMs.p50)}, p99 ${fmtMs(res.allMs.p99)}, max ${fmtMs(res.allMs.max)}; commit ack p50 ${fmtMs(res.commitAckMs.p50)}; ` +
    `probe round trip p50 ${fmtMs(res.pollRttMs.p50)}; raw NOTIFY round trip p50 ${fmtMs(res.notifyMs.p50)}, p99 ${fmtMs(res.notifyMs.p99)}; ` +
    `committed write + NOTIFY p50 ${fmtMs(res.writeNotifyMs.p50)}, p99 ${fmtMs(res.writeNotifyMs.p99)}; from the commit ack p50 ${fmtMs(res.fromAckMs.p50)}, p99 ${fmtMs(res.fromAckMs.p99)}`);
  return res;
}

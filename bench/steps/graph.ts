// 1. The graph: small (few credentials) generated, copied, and completed into the big one.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Sql } from "../../src/db/client";
import { migrate } from "../../src/db/migrate";
import { hashSecret } from "../../src/tokens";
import { addCredentials, checkSecretHashes, generateGraph, sampleVerifyPairs, type GraphStats } from "../graph";
import { createScratchDb, endSql, luaScript, run, say, trackedSql, trackTmp } from "../harness";
import { S, graph, type Step } from "./context";

export const step: Step = {
  name: "graph",
  always: true,
  async run(ctx) {
    const { admin, results } = ctx;
    const tag = `${Date.now().toString(36)}_${process.pid}`;
    const smallDb = `pcl_bench_small_${tag}`, bigDb = `pcl_bench_big_${tag}`;
    const smallUrl = await createScratchDb(smallDb);
    let sql: Sql = trackedSql(smallUrl, { max: 2, statementTimeoutMs: 0 });
    await migrate(sql);
    say(`generating graph: ${Object.entries(graph).map(([k, v]) => `${k}=${v}`).join(" ")} (first ${S.smallCredentials} credentials)`);
    const gen1: GraphStats = await generateGraph(sql, graph, { credentialRange: [1, S.smallCredentials] });
    say(`  ${(gen1.ms / 1000).toFixed(1)} s (${gen1.mode}): ${JSON.stringify(gen1.steps)}`);
    await sql.unsafe(`select pcl_prune_change_log('0 seconds')`);
    await sql.unsafe(`vacuum analyze`);
    const smallPairs = await sampleVerifyPairs(sql, { ...graph, credentials: S.smallCredentials }, S.bodies);
    await endSql(sql);
    const tCopy = performance.now();
    const bigUrl = await createScratchDb(bigDb, smallDb);
    const copyMs = performance.now() - tCopy;
    sql = trackedSql(bigUrl, { max: 2, statementTimeoutMs: 0 });
    let gen2: GraphStats | null = null;
    if (graph.credentials > S.smallCredentials) {
      gen2 = await addCredentials(sql, graph, S.smallCredentials + 1, graph.credentials);
      say(`  copied in ${(copyMs / 1000).toFixed(1)} s; credentials ${S.smallCredentials + 1}…${graph.credentials} added in ${(gen2.ms / 1000).toFixed(1)} s: ${JSON.stringify(gen2.steps)}`);
    }
    await sql.unsafe(`select pcl_prune_change_log('0 seconds')`);
    await sql.unsafe(`vacuum analyze`);
    await checkSecretHashes(sql, graph.credentials, hashSecret);
    const bigPairs = await sampleVerifyPairs(sql, graph, S.bodies);
    const generateMs = gen1.ms + copyMs + (gen2?.ms ?? 0);
    const [sizes] = await sql<{ small: number; big: number }[]>`select pg_database_size(${smallDb})::float8 as small, pg_database_size(${bigDb})::float8 as big`;
    say(`graph ready in ${(generateMs / 1000).toFixed(1)} s; databases ${(sizes!.small / 2 ** 20).toFixed(0)} MiB and ${(sizes!.big / 2 ** 20).toFixed(0)} MiB`);
    results.graph = { params: graph, smallCredentials: S.smallCredentials, generateMs, small: gen1, copyMs, addCredentials: gen2, dbBytes: sizes };

    const tmp = trackTmp(mkdtempSync(join(tmpdir(), "pcl-bench-")));
    const bigLua = join(tmp, "big.lua"), smallLua = join(tmp, "small.lua");
    writeFileSync(bigLua, luaScript(bigPairs));
    writeFileSync(smallLua, luaScript(smallPairs));
    const bigBodies = join(tmp, "big.json");
    writeFileSync(bigBodies, JSON.stringify(bigPairs.map((p) => JSON.stringify({ gate_id: p.gate_id, token: p.token }))));

    const pgPids = async () =>
      (await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname in (${smallDb}, ${bigDb})`).map((r) => r.pid);
    ctx.fx = { smallDb, bigDb, smallUrl, bigUrl, smallPairs, bigPairs, bigLua, smallLua, bigBodies, generateMs, pgPids };
    return [];
  },
};

// What storing an access event costs Postgres: the schema before sql/0011, the schema after it, and
// each candidate change measured on its own (from the "before" schema), in one run, rounds
// alternating (the order rotates each round) so load elsewhere on the machine falls on every
// variant alike.
//
// Each variant gets its own scratch database (migrations applied, then the variant's DDL) and one
// connection; a round ships the same events (generated once per round: 10k gates, 100k users, a
// share of unknown tokens without a user, the reasons of a typical site) to every variant, in
// batches the way the shipper sends them (one statement, autocommit, per batch). The figure is the
// CPU of that connection's backend (/proc/<pid>/stat, found with pg_backend_pid()) ÷ events stored,
// median of the rounds, with the spread (min–max) as the noise, and the median of each round's
// ratio to that round's "before" (drift of the machine's load between rounds cancels); beside it
// the wall time per event, the client's CPU per event (this process sending; the bodies are encoded
// before the measurement), and the bytes a stored event takes (heap + indexes, all partitions).
// WAL writer, checkpointer and autovacuum are other processes and not counted (a leaner row or
// index writes less WAL, so they only gain).
// At the end the events listing queries are EXPLAIN ANALYZEd on every schema: a listing by gate or
// user must stay an index scan (the busiest gate holds 5 % of the events, the busiest user 1 %; a
// quiet gate 1 in 20,000, a rare user 1 in 100,000).
//
//   bun bench/events-pg.ts
// knobs:
//   BENCH_EVENTS=500000     events per variant, over all rounds
//   BENCH_ROUNDS=5          rounds (each variant ships BENCH_EVENTS / rounds per round)
//   BENCH_BATCH=500         events per statement (24k events/s with EVENT_FLUSH_MS=20 → ~480)
//   BENCH_VARIANTS=a,b,…    which variants (default: all; see VARIANTS below)
//   BENCH_UNKNOWN_PCT=5     share of events of unknown tokens (no user, no credential)
//   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test   where the scratch databases are made
//   BENCH_KEEP_DB=1         keep the scratch databases
import type { Sql } from "../src/db/client";
import { migrate } from "../src/db/migrate";
import { type AccessEvent, COLUMNS, lineOf } from "../src/events/copy-line";
import { createScratchDb, endSql, fmtInt, int, loadSettings, median, procTicks, runMain, say, setPg, table, trackedSql } from "./harness";

type Form = "copy" | "copy-binary" | "copy-partition" | "unnest";

interface Variant {
  name: string;
  what: string;
  /** Applied after the migrations, on an empty table. */
  ddl: string[];
  form: Form;
  batch?: number;
  /** reason stored as a smallint code (the API would map it back). */
  reasonCode?: boolean;
}

/** The two secondary indexes, replaced by the given definitions (the migrations make sql/0011's). */
const indexes = (gate: string | null, user: string | null) => [
  "drop index access_events_gate_idx",
  "drop index access_events_user_idx",
  ...(gate ? [`create index access_events_gate_idx on access_events ${gate}`] : []),
  ...(user ? [`create index access_events_user_idx on access_events ${user}`] : []),
];
/** As sql/0003 made them, before 0011. */
const BEFORE = indexes("(gate_id, at desc, id desc)", "(user_id, at desc, id desc)");
/** Text keys compared bytewise: the database's collation (C.UTF-8, en_US.UTF-8) goes through strcoll. */
const C_COLLATE = `alter table access_events alter column gate_id type text collate "C", alter column user_id type text collate "C"`;

const VARIANTS: Variant[] = [
  { name: "before", what: "before 0011: COPY text into the parent, (gate_id, at, id) + (user_id, at, id)", ddl: BEFORE, form: "copy" },
  { name: "0011", what: "sql/0011: (gate_id, at) + (user_id, at) where user_id is not null", ddl: [], form: "copy" },
  { name: "partial-user", what: "before, user index partial only (where user_id is not null)", ddl: indexes("(gate_id, at desc, id desc)", "(user_id, at desc, id desc) where user_id is not null"), form: "copy" },
  { name: "no-id", what: "before, secondary indexes without id only: (gate_id, at), (user_id, at)", ddl: indexes("(gate_id, at desc)", "(user_id, at desc)"), form: "copy" },
  { name: "no-user-idx", what: "(reference) before without the user index — what one secondary index costs", ddl: indexes("(gate_id, at desc, id desc)", null), form: "copy" },
  { name: "bare-heap", what: "(reference) primary key only — heap, PK and COPY parsing", ddl: [...indexes(null, null), "drop index access_events_presence_idx"], form: "copy" },
  { name: "c-collate", what: "before, gate_id and user_id collate \"C\"", ddl: [...BEFORE, C_COLLATE], form: "copy" },
  { name: "smallint-reason", what: "before, reason as a smallint code instead of text", ddl: [...BEFORE, "alter table access_events alter column reason type smallint using 0"], form: "copy", reasonCode: true },
  { name: "binary", what: "before, COPY … (format binary) instead of text", ddl: BEFORE, form: "copy-binary" },
  { name: "partition", what: "before, COPY text straight into the day's partition (no routing)", ddl: BEFORE, form: "copy-partition" },
  { name: "unnest", what: "before, insert … select from unnest($1::uuid[], …) instead of COPY", ddl: BEFORE, form: "unnest" },
  { name: "batch50", what: "before, 50 events per COPY (EVENT_FLUSH_MS=20 at ~2.5k events/s)", ddl: BEFORE, form: "copy", batch: 50 },
  { name: "batch5000", what: "before, 5000 events per COPY (one commit per larger batch)", ddl: BEFORE, form: "copy", batch: 5000 },
];

// ---------------------------------------------------------------------------------------------
// Events

const REASONS: Array<[string, boolean, number]> = [
  ["granted", true, 80], ["no_grant", false, 8], ["outside_schedule", false, 4], ["gate_locked", false, 1],
  ["credential_expired", false, 1], ["rate_limited", false, 1],
];
const REASON_CODE = new Map([...REASONS.map((r, i) => [r[0], i + 1] as const), ["unknown_token", 99] as const]);

/** A small deterministic PRNG: every variant of a round stores the same events. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeEvents(count: number, startMs: number, perMs: number, seed: number, unknownPct: number): AccessEvent[] {
  const r = rng(seed);
  const total = REASONS.reduce((a, x) => a + x[2], 0);
  const out: AccessEvent[] = [];
  for (let i = 0; i < count; i++) {
    const at = startMs + Math.floor(i / perMs);
    // A busy main entrance (5 % of the events) and a frequent user (1 %): the listings EXPLAINed below ask for them.
    const gateId = r() < 0.05 ? "GATE_00042" : `GATE_${String(Math.floor(r() * 10_000)).padStart(5, "0")}`;
    if (r() * 100 < unknownPct) {
      out.push({ id: Bun.randomUUIDv7("hex", at), at, gateId, userId: null, credentialId: null, isDevice: false, allow: false, reason: "unknown_token", revision: 1234 });
      continue;
    }
    const u = r() < 0.01 ? 42 : Math.floor(r() * 100_000);
    let pick = r() * total, reason = REASONS[0]!;
    for (const x of REASONS) if ((pick -= x[2]) < 0) { reason = x; break; }
    out.push({
      id: Bun.randomUUIDv7("hex", at), at, gateId, userId: `u_${String(u).padStart(6, "0")}`, credentialId: `c_${String(u).padStart(6, "0")}_1`,
      isDevice: false, allow: reason[1], reason: reason[0], revision: 1234,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Statement forms

const textBody = (es: AccessEvent[], reasonCode: boolean) =>
  Buffer.from(es.map((e) => lineOf(reasonCode ? { ...e, reason: String(REASON_CODE.get(e.reason)) } : e)).join(""));

const PG_EPOCH_MS = 946_684_800_000;
const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");

/** COPY binary: header, one tuple per event (13 fields), trailer. */
function binaryBody(es: AccessEvent[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(head);
  parts.push(head);
  for (const e of es) {
    const strs = [e.gateId, e.userId, e.credentialId, e.reason, e.zoneId ?? null, e.direction ?? null].map((s) => (s === null ? null : Buffer.from(s)));
    let len = 2 + (4 + 16) + (4 + 8) + (4 + 1) + (4 + 8) + 4 * 3; // fields, id, at, allow, revision, flags/peer ids null
    for (const s of strs) len += 4 + (s?.length ?? 0);
    const b = Buffer.allocUnsafe(len);
    let o = b.writeInt16BE(13, 0);
    o = b.writeInt32BE(16, o);
    o += b.write(e.id.replace(/-/g, ""), o, "hex");
    o = b.writeInt32BE(8, o);
    o = b.writeBigInt64BE(BigInt(e.at - PG_EPOCH_MS) * 1000n, o);
    const str = (s: Buffer | null) => {
      if (s === null) o = b.writeInt32BE(-1, o);
      else {
        o = b.writeInt32BE(s.length, o);
        o += s.copy(b, o);
      }
    };
    str(strs[0]!);
    str(strs[1]!);
    str(strs[2]!);
    o = b.writeInt32BE(1, o);
    o = b.writeUInt8(e.allow ? 1 : 0, o);
    str(strs[3]!);
    o = b.writeInt32BE(8, o);
    o = b.writeBigInt64BE(BigInt(e.revision), o);
    str(strs[4]!);
    str(strs[5]!);
    o = b.writeInt32BE(-1, o); // flags (text[]): null here
    o = b.writeInt32BE(-1, o); // peer_event_id
    o = b.writeInt32BE(-1, o); // peer_user_id
    parts.push(b.subarray(0, o));
  }
  parts.push(Buffer.from([0xff, 0xff]));
  return Buffer.concat(parts);
}

async function copyIn(sql: Sql, target: string, opts: string, body: Buffer): Promise<void> {
  const w = await sql`copy ${sql(target)} (${sql.unsafe(COLUMNS)}) from stdin ${sql.unsafe(opts)}`.writable();
  await new Promise<void>((resolve, reject) => {
    w.on("error", reject);
    w.on("finish", () => resolve());
    w.end(body);
  });
}

const partitionOf = (ms: number) => `access_events_${new Date(ms).toISOString().slice(0, 10).replace(/-/g, "")}`;

/** Prepares a batch for a form (outside the measurement) and returns what sends it. */
function prepare(v: Variant, es: AccessEvent[]): (sql: Sql) => Promise<unknown> {
  switch (v.form) {
    case "copy": {
      const body = textBody(es, v.reasonCode === true);
      return (sql) => copyIn(sql, "access_events", "", body);
    }
    case "copy-binary": {
      const body = binaryBody(es);
      return (sql) => copyIn(sql, "access_events", "(format binary)", body);
    }
    case "copy-partition": {
      const body = textBody(es, false);
      const day = partitionOf(es[0]!.at);
      if (partitionOf(es[es.length - 1]!.at) !== day) return (sql) => copyIn(sql, "access_events", "", body);
      return (sql) => copyIn(sql, day, "", body);
    }
    case "unnest": {
      const col = <T>(f: (e: AccessEvent) => T) => es.map(f);
      const args = [
        col((e) => e.id), col((e) => new Date(e.at).toISOString()), col((e) => e.gateId), col((e) => e.userId), col((e) => e.credentialId),
        col((e) => (e.allow ? "t" : "f")), col((e) => e.reason), col((e) => String(e.revision)),
      ];
      return (sql) => sql`
        insert into access_events (id, at, gate_id, user_id, credential_id, allow, reason, revision)
        select * from unnest(${args[0] as string[]}::uuid[], ${args[1] as string[]}::timestamptz[], ${args[2] as string[]}::text[],
          ${args[3] as string[]}::text[], ${args[4] as string[]}::text[], ${args[5] as string[]}::text[]::bool[], ${args[6] as string[]}::text[],
          ${args[7] as string[]}::text[]::int8[])`;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The run

interface Sample { pgUs: number; wallUs: number; clientUs: number }

interface Db { v: Variant; name: string; sql: Sql; pid: number; samples: Sample[]; stored: number; emptyBytes: number }

/** Heap + indexes of every partition. */
async function eventBytes(sql: Sql): Promise<number> {
  const rows = await sql<{ bytes: number }[]>`
    select coalesce(sum(pg_total_relation_size(relid)), 0)::int8 as bytes from pg_partition_tree('access_events') where isleaf`;
  return rows[0]!.bytes;
}

const QUERIES: Array<[string, string]> = [
  ["by gate", "select * from access_events where gate_id = 'GATE_00042' order by at desc, id desc limit 51"],
  ["by gate, next page", "select * from access_events where gate_id = 'GATE_00042' and (at, id) < (now() + interval '1 hour', 'ffffffff-ffff-7fff-bfff-ffffffffffff'::uuid) order by at desc, id desc limit 51"],
  ["by a quiet gate", "select * from access_events where gate_id = 'GATE_00007' order by at desc, id desc limit 51"],
  ["by user", "select * from access_events where user_id = 'u_000042' order by at desc, id desc limit 51"],
  ["by user, next page", "select * from access_events where user_id = 'u_000042' and (at, id) < (now() + interval '1 hour', 'ffffffff-ffff-7fff-bfff-ffffffffffff'::uuid) order by at desc, id desc limit 51"],
  ["by a rare user", "select * from access_events where user_id = 'u_000007' order by at desc, id desc limit 51"],
  ["live, by gate, after", "select * from access_events where (at, id) > (now() - interval '1 day', '00000000-0000-0000-0000-000000000000'::uuid) and gate_id = 'GATE_00042' order by at, id limit 500"],
];

/** The scan nodes of a plan, e.g. "Index Scan using … ×9" — enough to see an index scan stays one. */
function scans(plan: any): string {
  const found = new Map<string, number>();
  let sort = "";
  const walk = (n: any) => {
    const t: string = n["Node Type"];
    if (/Scan/.test(t)) {
      const k = `${t}${n["Index Name"] ? ` (${String(n["Index Name"]).replace(/^access_events_\d{8}_|^access_events_default_/, "")})` : ""}`;
      found.set(k, (found.get(k) ?? 0) + 1);
    }
    if (/Sort/.test(t) && !sort) sort = t;
    for (const c of n.Plans ?? []) walk(c);
  };
  walk(plan);
  return [...found].map(([k, n]) => `${k}${n > 1 ? ` ×${n}` : ""}`).join(", ") + (sort ? ` + ${sort}` : "");
}

async function main(): Promise<void> {
  const s = loadSettings();
  const events = int("BENCH_EVENTS", 500_000);
  const rounds = int("BENCH_ROUNDS", 5);
  const batch = int("BENCH_BATCH", 500);
  const unknownPct = int("BENCH_UNKNOWN_PCT", 5, 0);
  const want = process.env.BENCH_VARIANTS?.split(",").map((x) => x.trim()).filter(Boolean);
  const variants = want ? VARIANTS.filter((v) => want.includes(v.name)) : VARIANTS;
  if (want && variants.length !== want.length) throw new Error(`BENCH_VARIANTS: unknown ${want.filter((w) => !VARIANTS.some((v) => v.name === w)).join(", ")}; known: ${VARIANTS.map((v) => v.name).join(", ")}`);
  const perRound = Math.floor(events / rounds);
  const admin = setPg(s.pgUrl, s.keepDb);
  const version = (await admin<{ version: string }[]>`select current_setting('server_version') as version`)[0]!.version;
  say(`events-pg: ${fmtInt(perRound * rounds)} events per variant in ${rounds} rounds, batches of ${batch} (unless the variant says), ${unknownPct} % unknown tokens; Postgres ${version}`);

  const stamp = `${Date.now().toString(36)}_${process.pid}`;
  const dbs: Db[] = [];
  for (const v of variants) {
    const name = `pcl_evpg_${v.name.replace(/-/g, "_")}_${stamp}`;
    const url = await createScratchDb(name);
    const sql = trackedSql(url, { max: 1, statementTimeoutMs: 0 });
    await migrate(sql);
    for (const d of v.ddl) await sql.unsafe(d);
    const pid = (await sql<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
    dbs.push({ v, name, sql, pid, samples: [], stored: 0, emptyBytes: await eventBytes(sql) });
  }
  say(`scratch databases: ${dbs.map((d) => d.name).join(", ")}`);

  // 24 events per millisecond (24k/s), from now: today's partition, as the service would write them.
  const t0 = Date.now();
  for (let r = 0; r < rounds; r++) {
    const es = makeEvents(perRound, t0 + Math.floor((r * perRound) / 24), 24, 1 + r, unknownPct);
    const order = dbs.map((_, i) => dbs[(i + r) % dbs.length]!);
    const line: string[] = [];
    for (const d of order) {
      const size = d.v.batch ?? batch;
      const sends: Array<(sql: Sql) => Promise<unknown>> = [];
      for (let i = 0; i < es.length; i += size) sends.push(prepare(d.v, es.slice(i, i + size)));
      // The connection is warm, and its pid current (an idle connection is closed after 30 s and reopened).
      d.pid = (await d.sql<{ pid: number }[]>`select pg_backend_pid() as pid`)[0]!.pid;
      const c0 = process.cpuUsage(), p0 = procTicks(d.pid), w0 = performance.now();
      for (const send of sends) await send(d.sql);
      const wall = performance.now() - w0, p1 = procTicks(d.pid), c = process.cpuUsage(c0);
      if (!Number.isFinite(p1 - p0)) throw new Error(`${d.v.name}: its backend ${d.pid} is gone`);
      d.stored += es.length;
      const sample = { pgUs: ((p1 - p0) * 10_000) / es.length, wallUs: (wall * 1000) / es.length, clientUs: (c.user + c.system) / es.length };
      d.samples.push(sample);
      line.push(`${d.v.name} ${sample.pgUs.toFixed(2)}`);
    }
    say(`round ${r + 1}/${rounds}: Postgres µs per event — ${line.join(", ")}`);
  }

  const base = dbs.find((d) => d.v.name === "before") ?? dbs[0]!;
  const med = (d: Db, k: keyof Sample) => median(d.samples.map((x) => x[k]));
  const spread = (d: Db, k: keyof Sample) => {
    const xs = d.samples.map((x) => x[k]);
    return `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
  };
  // Per round, ÷ the "before" of the same round: drift of the machine's load between rounds cancels.
  const paired = (d: Db) => median(d.samples.map((x, i) => x.pgUs / base.samples[i]!.pgUs));
  const pairedSpread = (d: Db) => {
    const xs = d.samples.map((x, i) => x.pgUs / base.samples[i]!.pgUs);
    return `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
  };
  const rows: string[][] = [["variant", "pg CPU µs/event (median)", "rounds min–max", "÷ before (median of rounds)", "its rounds min–max", "wall µs/event", "client CPU µs/event", "bytes/event (heap+idx)", "what"]];
  const sizes = new Map<Db, number>();
  for (const d of dbs) sizes.set(d, ((await eventBytes(d.sql)) - d.emptyBytes) / d.stored);
  for (const d of dbs) {
    rows.push([
      d.v.name, med(d, "pgUs").toFixed(2), spread(d, "pgUs"), paired(d).toFixed(2), pairedSpread(d), med(d, "wallUs").toFixed(2),
      med(d, "clientUs").toFixed(2), sizes.get(d)!.toFixed(0), d.v.what,
    ]);
  }
  say("\n" + table(rows, ["l", "r", "r", "r", "r", "r", "r", "r", "l"]));

  // Plans: analyze first, as autovacuum would have by then.
  say("\nplans of the events listings (after analyze):");
  const plans: string[][] = [["variant", ...QUERIES.map((q) => q[0])]];
  for (const d of dbs) {
    if (d.v.form !== "copy" || d.v.batch || /^(bare-heap|no-user-idx)$/.test(d.v.name)) continue; // same schema as another variant, or a reference
    await d.sql`analyze access_events`;
    const cells: string[] = [];
    for (const [, q] of QUERIES) {
      await d.sql.unsafe(q); // warm
      const [row] = await d.sql.unsafe(`explain (analyze, format json) ${q}`);
      const p = (row as any)["QUERY PLAN"][0];
      cells.push(`${scans(p.Plan)}; ${p["Execution Time"].toFixed(2)} ms`);
    }
    plans.push([d.v.name, ...cells]);
  }
  for (const p of plans.slice(1)) say(`  ${p[0]}:\n${p.slice(1).map((c, i) => `    ${QUERIES[i]![0]}: ${c}`).join("\n")}`);
  for (const d of dbs) await endSql(d.sql);
}

await runMain(main, 3 * 3600_000);

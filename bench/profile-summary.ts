// Summarises a CPU profile (`bun --cpu-prof` writes a Chrome .cpuprofile): self and total time by
// function, and self time by where the code lives (our modules, Elysia, Bun's natives), so a
// verify's CPU can be split into its parts without a browser.
//
//   bun bench/profile-summary.ts <file.cpuprofile> [top=40] [filter-regexp]
//   PROFILE_LAST_S=10 …   only the last 10 s of the profile (the load, not the start-up)
//
// "self" is the share of samples whose innermost frame is the function; "total" the share in which
// it is anywhere on the stack (each sample counted once per function, recursion included once).
// The idle share (the event loop waiting in epoll) is reported apart and left out of the shares.
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg, filterArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: bun bench/profile-summary.ts <file.cpuprofile> [top] [filter-regexp]");
  process.exit(2);
}
const top = Number(topArg ?? 40);
const filter = filterArg ? new RegExp(filterArg) : null;
const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
// Sample times (µs from the first); with PROFILE_LAST_S only the samples of the window are read.
const times: number[] = [];
for (let i = 0, t = 0; i < p.samples.length; i++) times.push((t += p.timeDeltas[i] ?? 0));
const lastS = Number(process.env.PROFILE_LAST_S ?? 0);
const from = lastS > 0 ? times.at(-1)! - lastS * 1e6 : -Infinity;

const byId = new Map<number, Node>();
const parent = new Map<number, number>();
for (const n of p.nodes) byId.set(n.id, n);
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const short = (url: string) => url.replace(/^.*\/node_modules\//, "~/").replace(/^.*?\/(src|bench|test)\//, "$1/").replace(/^file:\/\//, "");
const keyOf = (n: Node) => `${n.callFrame.functionName || "(anonymous)"}  ${short(n.callFrame.url)}${n.callFrame.url ? ":" + (n.callFrame.lineNumber + 1) : ""}`;
const IDLE = /^\((idle|program|garbage collector)\)$/;

/** Where a frame's code lives: our module by directory, a dependency by package, else native. */
function area(n: Node): string {
  const u = n.callFrame.url;
  if (!u) return n.callFrame.functionName.startsWith("(") ? n.callFrame.functionName : "native (Bun/JSC built-ins)";
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (dep) return dep[1]!;
  const ours = /\/(src|bench)\/(.*)$/.exec(u);
  if (ours) return `${ours[1]}/${ours[2]}`;
  return short(u);
}

const self = new Map<string, number>();
const total = new Map<string, number>();
const areas = new Map<string, number>();
let idle = 0, busy = 0;
// A verify's parts: each sample goes to the first part named on its stack, leaf upwards.
const PARTS: Array<[string, RegExp]> = [
  ["request id", /^requestId .*request\.ts/],
  ["metrics", /metrics\.ts|prom-client/],
  ["event: record (encode into the tick buffer)", /^(record|push|lineOf|isoTime|copyText|encodeRecord|recorded) .*(event-writer|journal|verify)\.ts/],
  ["event: journal write (one per tick)", /^(writeTick|append) .*(event-writer|journal)\.ts/],
  ["event: ship to Postgres (COPY, watermark)", /^(ship|shipAll|insert|copyInto|kick|advance|read|parseRecords|touchDevices) .*(event-writer|journal)\.ts|postgres\//],
  ["decision (SHA-256 + index)", /permission-index|key-table|clock\.ts|schedule\.ts|state\/rules|^hash $/],
  ["answer (object, JSON, Response)", /^(respond|failed|verifyAnswer|withState|answer\w*) |^Response $|^stringify $/],
  ["waiting for the journal (promises)", /^(after) .*event-writer|^processTicksAndRejections/],
  ["verify core (outcome, limits)", /src\/verify\/verify\.ts/],
  ["body: read, JSON.parse, schema check", /^(text|parse|check) |typebox/],
  ["Elysia", /elysia\//],
  ["native route handler (own code)", /verify-native\.ts/],
  ["start-up (module loading, index build)", /require|snapshot|fromSnapshot|permissions\.ts|migrate/],
];
const parts = new Map<string, number>();
const partOf = (id: number): string => {
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = keyOf(byId.get(cur)!);
    for (const [name, re] of PARTS) if (re.test(k)) return name;
  }
  return "Bun's HTTP server and the rest (no JS frame of ours)";
};
for (let i = 0; i < p.samples.length; i++) {
  if (times[i]! < from) continue;
  const id = p.samples[i]!;
  const leaf = byId.get(id)!;
  if (IDLE.test(leaf.callFrame.functionName) && leaf.callFrame.functionName !== "(garbage collector)") {
    idle++;
    continue;
  }
  busy++;
  const part = partOf(id);
  parts.set(part, (parts.get(part) ?? 0) + 1);
  const k = keyOf(leaf);
  self.set(k, (self.get(k) ?? 0) + 1);
  const a = area(leaf);
  areas.set(a, (areas.get(a) ?? 0) + 1);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const key = keyOf(byId.get(cur)!);
    if (seen.has(key)) continue;
    seen.add(key);
    total.set(key, (total.get(key) ?? 0) + 1);
  }
}

const pct = (n: number) => ((n / busy) * 100).toFixed(1).padStart(5) + " %";
console.log(`${file}: ${busy + idle} samples${lastS > 0 ? ` (the last ${lastS} s)` : ""}, ${busy} busy, ${idle} idle (${((idle / (busy + idle)) * 100).toFixed(1)} % idle)\n`);
console.log("self time by part of a verify (first part on the stack, leaf upwards):");
for (const [a, n] of [...parts].sort((x, y) => y[1] - x[1])) console.log(`  ${pct(n)}  ${a}`);
console.log("");
console.log("self time by area:");
for (const [a, n] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 25)) console.log(`  ${pct(n)}  ${a}`);
console.log("\nself time by function:");
for (const [k, n] of [...self].filter(([k]) => !filter || filter.test(k)).sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`  ${pct(n)}  ${k}`);
console.log("\ntotal (inclusive) time by function:");
for (const [k, n] of [...total].filter(([k]) => !filter || filter.test(k)).sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`  ${pct(n)}  ${k}`);

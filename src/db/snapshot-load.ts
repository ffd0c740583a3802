// The full snapshot straight into the index's columns, for the worker's builds (cold start and
// every rebuild). loadSnapshot (permissions.ts) hands postgres.js a million rows, and it makes an
// array and a JavaScript value per field (~2 µs a row), then the build makes a record per row:
// that was most of a cold start. Here each big table comes as a few rows, one per range of heap
// blocks (ctid), whose values are whole columns joined by string_agg (a Postgres aggregate costs
// about what printing the rows does); the worker splits them and interns every field into the
// tables as it goes — no row array, no record. The queries are pipelined, so Postgres prints the
// next chunk while the worker parses this one. It can also read over two connections sharing one
// snapshot (pg_export_snapshot / SET TRANSACTION SNAPSHOT) — the picture is exactly the one
// loadSnapshot reads either way: the revision is read first in the exporting transaction, whose
// snapshot the other imports — but the worker uses one: the parsing is the bottleneck, and a
// second connection measured no faster (slower with the process pinned to one core).
//
// A value containing the row separator (a newline in an id or a username) makes a column split
// into more pieces than the chunk has rows; that chunk is then read again as ordinary rows.
import type { TransactionSql } from "postgres";
import type { CredentialKind } from "../index/types";
import { type IndexBuilder, PermissionIndex } from "../index/permission-index";
import type { Sql } from "./client";
import { COLS, ms, REVOKED_DEVICES, type Row, RR, toCredential, toGate, toGrant, toGroup, toSchedule, toUser, toZone } from "./permissions";

type Tx = TransactionSql<Record<string, never>>;

/** Heap blocks per chunk: 4 MB of table, ~2 MB of text, ~20k credentials. */
const BLOCKS = 500;
/** Queries in flight per connection (more would only queue results in memory). */
const IN_FLIGHT = 2;

/** In the order of the flags' kind numbers (position of the initial in 'cpads'). */
const KINDS: CredentialKind[] = ["card", "pin", "api", "device", "session"];
/** Bounds as "from until" (each empty when open), only for rows flagged b. */
const bounds = (from: string, until: string) =>
  `string_agg(case when ${from} is not null or ${until} is not null then coalesce(${ms(from)}::text, '') || ' ' || coalesce(${ms(until)}::text, '') end, E'\\n')`;
const flag = (cond: string, yes: string, no: string) => `case when ${cond} then '${yes}' else '${no}' end`;
/** A row's flags as one character, chr(64 + bits): one function call a row instead of a concatenation per flag. */
const bits = (...terms: string[]) => `chr(64 + ${terms.join(" + ")})`;
const bit = (cond: string, value: number) => `case when ${cond} then ${value} else 0 end`;

interface Table {
  name: string;
  alias: string;
  /** Aggregates of one chunk: count first. */
  chunk: string;
  /** The same rows as records, for a chunk whose columns did not split cleanly. */
  rows: string;
  /** Feeds a chunk's columns to the builder; false (nothing fed) when a column does not split into its rows. */
  feed(b: IndexBuilder, r: Row, deviceRevoked: Set<string>): boolean;
  feedRow(b: IndexBuilder, r: Row, deviceRevoked: Set<string>): void;
}

function parseBound(s: string, open: number): number {
  return s === "" ? open : Number(s);
}

/** Pairs "from until" of the flagged rows, or null when they do not split into `n`. */
function splitBounds(col: string | null, n: number): string[] | null {
  if (n === 0) return [];
  const l = col === null ? [] : col.split("\n");
  return l.length === n ? l : null;
}

function count(s: string, width: number, at: number, ch: number): number {
  let n = 0;
  for (let i = at; i < s.length; i += width) if (s.charCodeAt(i) === ch) n++;
  return n;
}

/** Rows of `flags` (one character each, chr(64 + bits)) with `bit` set. */
function countBit(flags: string, bit: number): number {
  let n = 0;
  for (let i = 0; i < flags.length; i++) if (((flags.charCodeAt(i) - 64) & bit) !== 0) n++;
  return n;
}

const B = 98; // "b"

const USERS: Table = {
  name: "users", alias: "u",
  chunk: `count(*)::int, string_agg(u.id, E'\\n'), string_agg(u.username, E'\\n'),
    string_agg(${flag("u.active", "1", "0")} || ${flag("u.valid_from is null and u.valid_until is null", "-", "b")}, ''),
    ${bounds("u.valid_from", "u.valid_until")}`,
  rows: COLS.user,
  feed(b, [n, idCol, nameCol, flags, boundCol]) {
    const ids = idCol.split("\n"), names = nameCol.split("\n");
    const bl = splitBounds(boundCol, count(flags, 2, 1, B));
    if (ids.length !== n || names.length !== n || flags.length !== 2 * n || bl === null) return false;
    for (let i = 0, k = 0; i < n; i++) {
      let from = -Infinity, until = Infinity;
      if (flags.charCodeAt(2 * i + 1) === B) [from, until] = pair(bl[k++]!);
      b.user(ids[i]!, names[i]!, flags.charCodeAt(2 * i) === 49, from, until);
    }
    return true;
  },
  feedRow(b, r) {
    const u = toUser(r);
    b.user(u.id, u.username, u.active, u.validFrom, u.validUntil);
  },
};

function pair(s: string): [number, number] {
  const sp = s.indexOf(" ");
  return [parseBound(s.slice(0, sp), -Infinity), parseBound(s.slice(sp + 1), Infinity)];
}

const MEMBERSHIPS: Table = {
  name: "memberships", alias: "m",
  chunk: `count(*)::int, string_agg(m.group_id, E'\\n'), string_agg(m.user_id, E'\\n')`,
  rows: "m.group_id, m.user_id",
  feed(b, [n, groupCol, userCol]) {
    const groups = groupCol.split("\n"), users = userCol.split("\n");
    if (groups.length !== n || users.length !== n) return false;
    for (let i = 0; i < n; i++) b.member(groups[i]!, users[i]!);
    return true;
  },
  feedRow(b, r) {
    b.member(r[0], r[1]);
  },
};

// Flags, one character a grant (chr(64 + bits)): 1 a user's (else a group's), 2 a gate's target,
// 4 a zone's (neither: none), 8 deny, 16 scheduled, 32 bounded.
const GRANTS: Table = {
  name: "grants", alias: "r",
  chunk: `count(*)::int, string_agg(r.id, E'\\n'),
    string_agg(${bits(bit("r.subject_user_id is not null", 1), "case when r.target_gate_id is not null then 2 when r.target_zone_id is not null then 4 else 0 end",
      bit("r.effect = 'deny'", 8), bit("r.schedule_id is not null", 16), bit("r.valid_from is not null or r.valid_until is not null", 32))}, ''),
    string_agg(coalesce(r.subject_user_id, r.subject_group_id, ''), E'\\n'), string_agg(coalesce(r.target_gate_id, r.target_zone_id, ''), E'\\n'),
    string_agg(r.schedule_id, E'\\n'), ${bounds("r.valid_from", "r.valid_until")}`,
  rows: COLS.grant,
  feed(b, [n, idCol, flags, subjectCol, targetCol, scheduleCol, boundCol]) {
    const ids = idCol.split("\n"), subjects = subjectCol.split("\n"), targets = targetCol.split("\n");
    const scheduled = countBit(flags, 16);
    const schedules = scheduled === 0 ? [] : (scheduleCol ?? "").split("\n");
    const bl = splitBounds(boundCol, countBit(flags, 32));
    if (ids.length !== n || subjects.length !== n || targets.length !== n || flags.length !== n || schedules.length !== scheduled || bl === null) return false;
    for (let i = 0, k = 0, j = 0; i < n; i++) {
      const f = flags.charCodeAt(i) - 64;
      let from = -Infinity, until = Infinity;
      if ((f & 32) !== 0) [from, until] = pair(bl[k++]!);
      b.grant(
        ids[i]!, (f & 1) !== 0, subjects[i]!, (f & 2) !== 0, (f & 6) === 0 ? null : targets[i]!, (f & 8) !== 0,
        (f & 16) !== 0 ? schedules[j++]! : null, from, until,
      );
    }
    return true;
  },
  feedRow(b, r) {
    const g = toGrant(r);
    const user = g.subjectUserId !== null;
    b.grant(
      g.id, user, (user ? g.subjectUserId : g.subjectGroupId) ?? "", g.targetGateId !== null, g.targetGateId ?? g.targetZoneId,
      g.effect === "deny", g.scheduleId, g.validFrom, g.validUntil,
    );
  },
};

// Flags, one character a credential (chr(64 + bits)): the kind's number (0–4: card, pin, api,
// device, session) + 8 admin + 16 user + 32 revoked + 64 bounded.
// The digests are joined without a separator (64 characters each, a check constraint says so).
// PIN hashes, visitors' hosts and revoked devices are few: loaded apart, as rows.
const CREDENTIALS: Table = {
  name: "credentials", alias: "c",
  chunk: `count(*)::int, string_agg(c.id, E'\\n'), string_agg(c.user_id, E'\\n'), string_agg(c.secret_hash, ''),
    string_agg(${bits("position(left(c.kind, 1) in 'cpads') - 1",
      "case when cardinality(c.scopes) = 0 then 0 else 8 * (('admin' = any(c.scopes))::int + 2 * ('user' = any(c.scopes))::int) end",
      bit("c.revoked_at is not null", 32), bit("c.valid_from is not null or c.expires_at is not null", 64))}, ''),
    ${bounds("c.valid_from", "c.expires_at")}`,
  rows: COLS.credential,
  feed(b, [n, idCol, userCol, hashes, flags, boundCol], deviceRevoked) {
    const ids = idCol.split("\n"), users = userCol.split("\n");
    const bl = splitBounds(boundCol, countBit(flags, 64));
    if (ids.length !== n || users.length !== n || hashes.length !== 64 * n || flags.length !== n || bl === null) return false;
    const anyDevice = deviceRevoked.size > 0;
    for (let i = 0, k = 0; i < n; i++) {
      const f = flags.charCodeAt(i) - 64;
      let from = -Infinity, until = Infinity;
      if ((f & 64) !== 0) [from, until] = pair(bl[k++]!);
      const id = ids[i]!;
      b.credential(
        id, users[i]!, KINDS[f & 7] ?? "card", (f >> 3) & 3, (f & 32) !== 0, anyDevice && deviceRevoked.has(id),
        hashes, 64 * i, from, until,
      );
    }
    return true;
  },
  feedRow(b, r) {
    const c = toCredential(r);
    const scopes = (c.scopes.includes("admin") ? 1 : 0) | (c.scopes.includes("user") ? 2 : 0);
    b.credential(c.id, c.userId, c.kind, scopes, c.revoked, c.deviceRevoked === true, c.secretHash, -1, c.validFrom, c.expiresAt);
  },
};

const BIG = [USERS, MEMBERSHIPS, GRANTS, CREDENTIALS];

export interface LoadedIndex {
  index: PermissionIndex;
  revision: number;
  /** Chunks read, and those read again as rows. */
  chunks: number;
  fallbacks: number;
  /** Of the whole: the last step, lists and group closures compiled once every row is in. */
  finishMs: number;
}

/**
 * The snapshot as an index, the same as PermissionIndex.fromSnapshot(await loadSnapshot(sql)).
 * `sql` should allow two connections (one is used otherwise). `blocks`: heap blocks per chunk (tests).
 */
export async function loadIndex(sql: Sql, opts: { connections?: 1 | 2; blocks?: number } = {}): Promise<LoadedIndex> {
  const per = opts.blocks ?? BLOCKS;
  return sql.begin(RR, async (a) => {
    // Locks before the snapshot: no table rewrite (VACUUM FULL, CLUSTER) can move rows between
    // the chunks' block ranges while they are read.
    await a.unsafe(`lock table users, memberships, grants, credentials in access share mode`);
    const [{ n: revision }] = (await a.unsafe(`select n from pcl_revision`)) as unknown as [{ n: number }];
    const sizes = (await a.unsafe(`
      select c.relname as name, (pg_relation_size(c.oid) / current_setting('block_size')::int)::int as blocks, c.reltuples::float8 as rows
      from pg_class c where c.oid in ('users'::regclass, 'memberships'::regclass, 'grants'::regclass, 'credentials'::regclass)`)) as unknown as Array<{ name: string; blocks: number; rows: number }>;
    const size = (t: string) => sizes.find((s) => s.name === t)!;
    const q = (tx: Tx, text: string) => tx.unsafe(text).values() as unknown as Promise<Row[]>;
    const [groups, zones, gates, schedules, revokedDevices, rules] = await Promise.all([
      q(a, `select ${COLS.group} from groups g`),
      q(a, `select ${COLS.zone} from zones z`),
      q(a, `select ${COLS.gate} from gates t`),
      q(a, `select ${COLS.schedule} from schedules s`),
      q(a, `select distinct credential_id from devices where revoked_at is not null and credential_id is not null`),
      q(a, `select id, pin_hash, host_user_id from credentials where pin_hash is not null or host_user_id is not null`),
    ]);
    const est = (t: string) => Math.max(0, Math.ceil(size(t).rows));
    const b = PermissionIndex.builder({ users: est("users"), grants: est("grants"), credentials: est("credentials") });
    b.small({ groups: groups.map(toGroup), zones: zones.map(toZone), gates: gates.map(toGate), schedules: schedules.map(toSchedule) });
    const deviceRevoked = new Set(revokedDevices.map((r) => r[0] as string));

    // Chunks in table order, the last of each table open-ended (its size was read after the snapshot).
    const tasks: Array<{ t: Table; where: string }> = [];
    for (const t of BIG) {
      const blocks = size(t.name).blocks;
      for (let lo = 0; lo === 0 || lo < blocks; lo += per) {
        const hi = lo + per >= blocks ? null : lo + per;
        tasks.push({ t, where: `${t.alias}.ctid >= '(${lo},0)'::tid${hi === null ? "" : ` and ${t.alias}.ctid < '(${hi},0)'::tid`}` });
      }
    }
    let fallbacks = 0;
    const from = (t: Table) => `${t.name} ${t.alias}${t === CREDENTIALS ? ` ${REVOKED_DEVICES}` : ""}`;
    const run = async (tx: Tx) => {
      const lane = async () => {
        for (let task = tasks.shift(); task; task = tasks.shift()) {
          const { t, where } = task;
          const [row] = await q(tx, `select ${t.chunk} from ${t.name} ${t.alias} where ${where}`);
          if (row![0] === 0 || t.feed(b, row!, deviceRevoked)) continue;
          fallbacks++;
          for (const r of await q(tx, `select ${t.rows} from ${from(t)} where ${where}`)) t.feedRow(b, r, deviceRevoked);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
    };
    const chunks = tasks.length;
    // (A pool of one connection could not open the second transaction while this one holds it.)
    if (opts.connections === 1 || ((sql as unknown as { options?: { max?: number } }).options?.max ?? 1) < 2) await run(a);
    else {
      const [{ id }] = (await a.unsafe(`select pg_export_snapshot() as id`)) as unknown as [{ id: string }];
      if (!/^[0-9A-F-]+$/i.test(id)) throw new Error(`unexpected snapshot id ${id}`);
      await Promise.all([run(a), sql.begin(RR, async (tx) => {
        await tx.unsafe(`set transaction snapshot '${id}'`);
        // This transaction's locks queue behind a waiting ALTER, which waits for the first's: a
        // wait Postgres cannot see (it runs through this process). Give up instead; the feed retries.
        await tx.unsafe(`set local lock_timeout = '10s'`);
        await run(tx);
      })]);
    }
    for (const [id, pin, host] of rules) b.credentialRules(id, pin, host);
    const t = performance.now();
    const index = b.finish(revision);
    return { index, revision, chunks, fallbacks, finishMs: performance.now() - t };
  }) as Promise<LoadedIndex>;
}

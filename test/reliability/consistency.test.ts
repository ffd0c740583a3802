// The consistency checker: SQL's decisions equal the index's at one revision; a corrupted index
// is reported pair by pair; the HTTP route and the CLI.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { checkConsistency, feedSource, MAX_PAIRS, type IndexSource } from "../../src/admin/consistency";
import { ApiError } from "../../src/errors";
import { PermissionIndex } from "../../src/index/permission-index";
import { type CredentialRec, REASONS } from "../../src/index/types";
import { hashSecret } from "../../src/tokens";
import { sleepUntil, startTestService, type TestService } from "../setup";
import { GraphWriter, loadPools, seededRand } from "./graph";

let s: TestService;
const H = 3_600_000;

const head = async () => (await s.db.sql<{ n: number }[]>`select n from pcl_revision`)[0]!.n;
const converged = async () => {
  const n = await head();
  await sleepUntil(() => s.service.deps.feed.revision >= n, `feed to reach ${n}`);
};
const check = (opts: Parameters<typeof checkConsistency>[2] = {}) => checkConsistency(s.db.sql, feedSource(s.service.deps.feed), opts);

/** A graph with every reason in it, plus the awkward cases: cycles, DST, midnight, "24:00". */
async function fixture(): Promise<void> {
  const sql = s.db.sql;
  const now = Date.now();
  await sql.begin(async (tx) => {
    await tx`insert into users (id, username, active, valid_from, valid_until) values
      ('u_ok', 'ok', true, null, null), ('u_off', 'off', false, null, null),
      ('u_later', 'later', true, ${new Date(now + 24 * H)}, null), ('u_gone', 'gone', true, null, ${new Date(now - H)}),
      ('u_deny', 'deny', true, null, null), ('u_night', 'night', true, null, null)`;
    await tx`insert into groups (id, name, parent_id) values ('g_root', 'root', null), ('g_mid', 'mid', 'g_root'),
      ('g_leaf', 'leaf', 'g_mid'), ('g_a', 'cycle-a', null), ('g_b', 'cycle-b', 'g_a')`;
    await tx`update groups set parent_id = 'g_b' where id = 'g_a'`; // a cycle, as only direct SQL can make
    await tx`insert into memberships (group_id, user_id) values ('g_leaf', 'u_ok'), ('g_a', 'u_deny'), ('g_leaf', 'u_deny'),
      ('g_b', 'u_night')`;
    await tx`insert into zones (id, name) values ('z_hq', 'hq'), ('z_lab', 'lab')`;
    await tx`insert into gates (id, name, zone_id, mode) values ('HQ_1', 'hq one', 'z_hq', 'normal'), ('HQ_2', 'hq two', 'z_hq', 'normal'),
      ('LAB', 'lab', 'z_lab', 'normal'), ('LOCKED', 'locked', 'z_hq', 'locked'), ('OFF', 'off', 'z_hq', 'disabled'),
      ('LONE', 'no zone', null, 'normal')`;
    await tx`insert into schedules (id, name, timezone, windows) values
      ('s_always', 'always', 'UTC', ${tx.json([{ days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "24:00" }])}),
      ('s_never', 'never', 'UTC', '[]'),
      ('s_berlin_dst', 'berlin 02-03', 'Europe/Berlin', ${tx.json([{ days: [1, 2, 3, 4, 5, 6, 7], start: "02:00", end: "03:00" }])}),
      ('s_night', 'night shift', 'America/Los_Angeles', ${tx.json([{ days: [5, 6, 7], start: "22:00", end: "06:00" }, { days: [1], start: "23:30", end: "00:00" }])}),
      ('s_lord_howe', 'lord howe', 'Australia/Lord_Howe', ${tx.json([{ days: [1, 2, 3, 4, 5, 6, 7], start: "01:45", end: "02:15" }])}),
      ('s_kolkata', 'kolkata', 'Asia/Kolkata', ${tx.json([{ days: [1, 3, 5], start: "05:30", end: "24:00" }])})`;
    await tx`insert into grants (subject_user_id, subject_group_id, target_gate_id, target_zone_id, effect, schedule_id, valid_from, valid_until) values
      (null, 'g_root', null, 'z_hq', 'allow', null, null, null),
      (null, 'g_root', 'LAB', null, 'allow', 's_never', null, null),
      (null, 'g_mid', 'LONE', null, 'allow', null, ${new Date(now + H)}, null),
      ('u_deny', null, 'HQ_2', null, 'deny', 's_always', null, null),
      (null, 'g_b', 'LAB', null, 'allow', 's_night', null, null),
      (null, 'g_a', 'LONE', null, 'allow', 's_berlin_dst', null, null),
      (null, 'g_a', 'HQ_1', null, 'deny', 's_lord_howe', null, null),
      ('u_night', null, 'HQ_1', null, 'allow', 's_kolkata', null, ${new Date(now + 48 * H)}),
      ('u_later', null, 'HQ_1', null, 'allow', null, null, null)`;
    const cred = (id: string, user: string, cols: Record<string, unknown> = {}) =>
      tx`insert into credentials ${tx({ id, user_id: user, kind: "card", secret_hash: hashSecret(`secret-${id}`), ...cols })}`;
    await cred("c_ok", "u_ok");
    await cred("c_revoked", "u_ok", { revoked_at: new Date() });
    await cred("c_expired", "u_ok", { expires_at: new Date(now - 1) });
    await cred("c_soon", "u_ok", { valid_from: new Date(now + H) });
    await cred("c_off", "u_off");
    await cred("c_later", "u_later");
    await cred("c_gone", "u_gone");
    await cred("c_deny", "u_deny");
    await cred("c_night", "u_night");
  });
}

beforeAll(async () => {
  s = await startTestService();
  const users = (await s.db.sql`select id from users`).map((r) => r.id as string);
  const credentials = (await s.db.sql`select id from credentials`).map((r) => r.id as string);
  const exclude = { users, credentials };
  // A random graph first, then the fixture (which the random writes must not disturb).
  const w = new GraphWriter(s.db.sql, seededRand(42), await loadPools(s.db.sql, exclude), Date.now(), exclude);
  await w.seed(2);
  for (let i = 0; i < 150; i++) await w.step();
  expect(w.stats.unexpected).toEqual([]);
  await fixture();
  await converged();
});
afterAll(() => s.stop());

describe("consistency checker", () => {
  test("GET /api/v1/admin/consistency: every pair, 0 mismatches, at the feed's revision, every reason covered", async () => {
    const r = await s.call("GET", "/api/v1/admin/consistency");
    expect(r.status).toBe(200);
    const { c, g } = (await s.db.sql`select (select count(*) from credentials)::int as c, (select count(*) from gates)::int as g`)[0]!;
    expect(r.body).toMatchObject({
      revision: await head(), checked: c * g, mode: "all", mismatches: [], mismatch_count: 0, consistent: true,
      counts: { sql: { credentials: c, gates: g }, index: { credentials: c, gates: g } },
    });
    expect(r.body.revision).toBe(s.service.deps.feed.revision);
    expect(Math.abs(Date.parse(r.body.at) - Date.now())).toBeLessThan(10_000);
    // Every reason a known credential at a known gate can get (the fixture has each, at any hour).
    // stale_index depends on the node's data age, not on the data: the checker decides on fresh data.
    const expected = REASONS.filter((x) => x !== "unknown_token" && x !== "unknown_gate" && x !== "stale_index");
    expect(Object.keys(r.body.by_reason).sort()).toEqual([...expected].sort());
    expect(r.body.checked).toBeGreaterThan(500);
  });

  test("?sample=N checks N distinct random pairs", async () => {
    const r = await s.call("GET", "/api/v1/admin/consistency?sample=25");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ mode: "sample", checked: 25, mismatch_count: 0, consistent: true });
    const big = await s.call("GET", `/api/v1/admin/consistency?sample=${MAX_PAIRS}`);
    expect(big.body).toMatchObject({ mode: "all", consistent: true }); // a sample as large as everything is everything
    const zero = await s.call("GET", "/api/v1/admin/consistency?sample=0");
    expect(zero.body).toMatchObject({ mode: "all", mismatch_count: 0 });
  });

  test("a malformed or out-of-range sample is 400 naming it", async () => {
    for (const q of ["-1", "abc", "1.5", String(MAX_PAIRS + 1), "99999999999"]) {
      const r = await s.call("GET", `/api/v1/admin/consistency?sample=${encodeURIComponent(q)}`);
      expect({ q, status: r.status, code: r.body?.error?.code, field: r.body?.error?.details?.field })
        .toEqual({ q, status: 400, code: "invalid_request", field: "sample" });
    }
  });

  test("schedules agree across DST changes, local midnights and half-hour zones", async () => {
    const instants = [
      "2026-03-28T01:30:00Z", "2026-03-29T00:59:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:00:00Z", // Berlin spring forward
      "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z", // Berlin fall back
      "2026-03-08T09:59:00Z", "2026-03-08T10:00:00Z", "2026-11-01T08:30:00Z", "2026-11-01T09:00:00Z", // Los Angeles
      "2026-04-04T13:59:00Z", "2026-04-04T14:00:00Z", "2026-04-04T14:59:00Z", // Auckland fall back
      "2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z", "2026-04-04T15:45:00Z", // Lord Howe (30 min)
      "2026-10-03T15:45:00Z", "2026-10-03T16:00:00Z", // Lord Howe spring forward
      "2026-03-27T23:59:00Z", "2026-03-28T00:00:00Z", "2026-03-28T06:59:00Z", "2026-03-28T07:00:00Z", // LA Friday night
      "2026-03-29T18:29:00Z", "2026-03-29T18:30:00Z", "2026-03-30T07:29:00Z", "2026-03-30T07:30:00Z", // Kolkata midnight, LA Monday 23:30
    ].map(Date.parse);
    for (let i = 0; i < 12; i++) instants.push(Date.now() + Math.round((Math.random() * 2 - 1) * 96) * H + Math.floor(Math.random() * H));
    for (const now of instants) {
      const r = await check({ now });
      expect({ at: new Date(now).toISOString(), mismatches: r.mismatches }).toEqual({ at: new Date(now).toISOString(), mismatches: [] });
    }
    // The instants hit the windows: the Berlin 02:00-03:00 grant opens the day before spring
    // forward, never on that day, and twice on fall-back day.
    const lone = (iso: string) => s.service.deps.feed.current.decide(hashSecret("secret-c_deny"), "LONE", Date.parse(iso)).reason;
    expect(["2026-03-28T01:30:00Z", "2026-03-29T00:59:00Z", "2026-03-29T01:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"].map(lone))
      .toEqual(["granted", "outside_schedule", "outside_schedule", "granted", "granted", "outside_schedule"]);
  });

  test("validity bounds agree at microsecond precision (Postgres keeps microseconds; decisions are made at whole milliseconds)", async () => {
    const X = Date.parse("2026-06-01T00:00:00.000Z");
    await s.db.sql.begin(async (tx) => {
      await tx`insert into users (id, username, valid_from) values ('u_us', 'micro', '2026-06-01T00:00:00.000250Z')`;
      await tx`insert into grants (subject_user_id, target_gate_id, valid_until) values ('u_us', 'LONE', '2026-06-01T00:00:00.001750Z')`;
      await tx`insert into credentials ${tx({ id: "c_us", user_id: "u_us", kind: "card", secret_hash: hashSecret("secret-c_us") })}`;
      // A literal: a postgres.js parameter goes through a JS Date, which keeps milliseconds only.
      await tx`insert into credentials (id, user_id, kind, secret_hash, expires_at)
               values ('c_us_exp', 'u_ok', 'card', ${hashSecret("secret-c_us_exp")}, '2026-06-01T00:00:00.000500Z'::timestamptz)`;
    });
    await converged();
    const reason = (c: string, at: number) => s.service.deps.feed.current.decide(hashSecret(`secret-${c}`), c === "c_us" ? "LONE" : "HQ_1", at).reason;
    // X: the user is not valid yet (from X + 0.25 ms), the card not expired yet (at X + 0.5 ms).
    // X + 1: both in force, the grant too (until X + 1.75 ms). X + 2: the grant has ended.
    expect([X, X + 1, X + 2].map((at) => [reason("c_us", at), reason("c_us_exp", at)]))
      .toEqual([["inactive_user", "granted"], ["granted", "expired_token"], ["no_grant", "expired_token"]]);
    for (const at of [X - 1, X, X + 1, X + 2]) {
      const r = await check({ now: at });
      expect({ at, mismatches: r.mismatches }).toEqual({ at, mismatches: [] });
    }
  });

  test("a corrupted index is reported pair by pair, and a rebuild clears it", async () => {
    const feed = s.service.deps.feed;
    const ix = feed.current;
    const before = await check();
    expect(before.mismatch_count).toBe(0);
    const gates = before.counts.sql.gates;

    // Changes that never committed, applied at the same revision (through the index's own
    // apply(), so the test does not depend on how the index stores its rows):
    const card = (id: string, user: string, over: Partial<CredentialRec> = {}): CredentialRec => ({
      id, userId: user, kind: "card", scopes: [], secretHash: hashSecret(`secret-${id}`), expiresAt: Infinity, validFrom: -Infinity,
      revoked: false, ...over,
    });
    ix.apply({
      revision: ix.revision,
      // 1. the index thinks a good card is revoked; 2. it knows a secret SQL does not (a deleted
      // credential that lingered)
      credentials: [["c_ok", card("c_ok", "u_ok", { revoked: true })], ["c_phantom", card("c_phantom", "u_night")]],
      // 3. it lost a user's groups
      memberships: [["u_deny", []]],
      // 4. it has a gate in the wrong mode
      gates: [["HQ_2", { id: "HQ_2", name: "hq two", zoneId: "z_hq", mode: "disabled", unlockMs: 800, maxStalenessMs: null }]],
    });
    expect(ix.revision).toBe(before.revision);

    const r = await check();
    expect(r.revision).toBe(before.revision);
    expect(r.consistent).toBe(false);
    const of = (c: string, g?: string) => r.mismatches.filter((m) => m.credential_id === c && (g === undefined || m.gate_id === g));
    expect(of("c_ok", "HQ_1")).toEqual([{ credential_id: "c_ok", gate_id: "HQ_1", index: { allow: false, reason: "revoked_token" }, sql: { allow: true, reason: "granted" } }]);
    expect(of("c_ok").length).toBe(gates);
    // (SQL says granted, or denied while the Lord Howe deny is open: either way not the index's no_grant.)
    expect(of("c_deny", "HQ_1")[0]).toMatchObject({ index: { reason: "no_grant" }, sql: { reason: expect.stringMatching(/^(granted|denied)$/) } });
    expect(of("c_deny", "HQ_2")[0]).toMatchObject({ index: { reason: "gate_disabled" }, sql: { reason: "denied" } });
    expect(of("c_phantom").length).toBe(gates);
    expect(of("c_phantom", "LAB")[0]).toMatchObject({ index: { reason: expect.any(String) }, sql: { allow: false, reason: "unknown_token" } });
    expect(r.counts.index.credentials).toBe(r.counts.sql.credentials + 1);
    expect(r.mismatch_count).toBe(r.mismatches.length);

    // Over HTTP too.
    const http = await s.call("GET", "/api/v1/admin/consistency");
    expect(http.body.mismatch_count).toBe(r.mismatch_count);
    expect((await s.call("GET", "/api/v1/admin/consistency?sample=500")).body.consistent).toBe(false);

    await feed.rebuild();
    expect((await check()).consistent).toBe(true);
  });

  test("an index that moved past the snapshot's revision is not compared: the check retries with a fresh snapshot", async () => {
    const feed = s.service.deps.feed;
    let first = true;
    const source: IndexSource = {
      async reach(revision) {
        if (first) {
          first = false;
          // A write lands after the snapshot and the index applies it before the comparison.
          await s.db.sql`insert into zones (name) values (${"moved-" + revision})`;
          await converged();
        }
        return feed.waitFor(revision, 2000);
      },
      current: () => feed.current,
    };
    const r = await checkConsistency(s.db.sql, source, {});
    expect(r).toMatchObject({ attempts: 2, consistent: true, revision: await head() });

    // An index that never gets there: 503 unavailable, not a comparison at the wrong revision.
    const stale = PermissionIndex.fromSnapshot({ revision: 1, users: [], groups: [], memberships: [], zones: [], gates: [], schedules: [], grants: [], credentials: [] });
    const err = await checkConsistency(s.db.sql, { reach: async () => false, current: () => stale }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe("unavailable");
    // One that always runs ahead: a few tries, then 503.
    const ahead = Object.assign(new PermissionIndex(), { revision: Number.MAX_SAFE_INTEGER });
    const err2 = await checkConsistency(s.db.sql, { reach: async () => true, current: () => ahead }, { attempts: 3 }).catch((e) => e);
    expect(err2).toMatchObject({ code: "unavailable" });
  });
});

describe("bun run cli consistency", () => {
  async function cli(...args: string[]) {
    const p = Bun.spawn(["bun", "src/cli/main.ts", "consistency", ...args], { env: { ...process.env, DATABASE_URL: s.db.url, LOG_LEVEL: "error" }, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { out, err, code };
  }

  test("every pair against an index built from a snapshot: exit 0; --sample N checks N", async () => {
    const all = await cli();
    expect({ code: all.code, err: all.err }).toEqual({ code: 0, err: "" });
    expect(JSON.parse(all.out)).toMatchObject({ mode: "all", mismatch_count: 0, consistent: true, revision: await head() });
    const some = await cli("--sample", "7");
    expect(some.code).toBe(0);
    expect(JSON.parse(some.out)).toMatchObject({ mode: "sample", checked: 7, consistent: true });
    expect((await cli("--sample", "x")).code).toBe(2);
  });

  test("exit 1 and the mismatches when the index and SQL disagree", async () => {
    // Weekdays written as strings (only direct SQL can): the index's JavaScript reads "3" as 3,
    // the rule (and the SQL side) knows only the numbers 1..7. The checker finds the difference.
    await s.db.sql.begin(async (tx) => {
      await tx`insert into schedules (id, name, timezone, windows) values ('s_strings', 'strings', 'UTC',
        ${tx.json([{ days: ["1", "2", "3", "4", "5", "6", "7"], start: "00:00", end: "24:00" }])})`;
      await tx`insert into grants (subject_user_id, target_gate_id, schedule_id) values ('u_ok', 'LONE', 's_strings')`;
    });
    const r = await cli();
    expect(r.code).toBe(1);
    const report = JSON.parse(r.out);
    expect(report.mismatches).toContainEqual({ credential_id: "c_ok", gate_id: "LONE", index: { allow: true, reason: "granted" }, sql: { allow: false, reason: "outside_schedule" } });
    await s.db.sql.begin(async (tx) => {
      await tx`delete from grants where schedule_id = 's_strings'`;
      await tx`delete from schedules where id = 's_strings'`;
    });
  });
});

describe("bounds", () => {
  test(`more than ${MAX_PAIRS} pairs without a sample is 400; a sample of them still works`, async () => {
    // 2300 × 2300 > 5M, written in one set-based statement each.
    await s.db.sql.begin(async (tx) => {
      await tx`insert into gates (id, name, mode) select 'BULK_' || i, 'bulk', 'locked' from generate_series(1, 2300) i`;
      await tx`insert into credentials (user_id, kind, secret_hash) select 'u_ok', 'card', encode(sha256(('bulk' || i)::bytea), 'hex')
               from generate_series(1, 2300) i`;
    });
    await converged();
    const t0 = performance.now();
    const r = await s.call("GET", "/api/v1/admin/consistency");
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: "invalid_request", details: { field: "sample" } });
    expect(performance.now() - t0).toBeLessThan(2000); // refused from the counts, before any pair is computed
    const sample = await s.call("GET", "/api/v1/admin/consistency?sample=2000");
    expect(sample.body).toMatchObject({ mode: "sample", checked: 2000, consistent: true });
    await s.db.sql.begin(async (tx) => {
      await tx`delete from credentials where secret_hash in (select encode(sha256(('bulk' || i)::bytea), 'hex') from generate_series(1, 2300) i)`;
      await tx`delete from gates where id like 'BULK\\_%'`;
    });
  });
});

// Random admin writes against a real database, for the consistency, property and chaos tests:
// users, nested groups (cycles too, through direct SQL), memberships, zones, gates with modes,
// schedules in several timezones (windows past midnight, "24:00" ends), allow/deny grants with
// schedules and validity windows, credentials created, changed, revoked and deleted. Most go
// through the admin services (src/admin/*), the way the API writes; some are direct SQL, the way
// an operator's script would.
import * as crud from "../../src/admin/crud";
import { COLLECTIONS } from "../../src/admin/collections";
import { importData } from "../../src/admin/import";
import { mapDbError } from "../../src/db/errors";
import type { Sql } from "../../src/db/client";
import { ApiError } from "../../src/errors";
import { hashSecret } from "../../src/tokens";

export interface Rand {
  int(n: number): number;
  chance(p: number): boolean;
  pick<T>(a: readonly T[]): T;
}

function fromNext(next: () => number): Rand {
  return {
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
    pick: (a) => a[Math.floor(next() * a.length)]!,
  };
}

/** A seeded generator (mulberry32). */
export function seededRand(seed: number): Rand {
  let s = seed >>> 0;
  return fromNext(() => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  });
}

/** Draws from a list of numbers fast-check generated (so shrinking shrinks the choices). */
export function listRand(values: readonly number[]): Rand {
  let i = 0;
  return fromNext(() => (values.length ? (values[i++ % values.length]! % 10_000) / 10_000 : 0));
}

export const TIMEZONES = ["UTC", "Europe/Berlin", "America/Los_Angeles", "Pacific/Auckland", "Asia/Kolkata", "Australia/Lord_Howe"];
const MODES = ["normal", "normal", "normal", "normal", "normal", "locked", "disabled"] as const;
const KINDS = ["card", "pin", "api", "device", "session"] as const;
const HOUR = 3_600_000;
const ACTOR = { credentialId: null };

export interface Pools {
  users: string[];
  groups: string[];
  zones: string[];
  gates: string[];
  schedules: string[];
  grants: string[];
  credentials: string[];
}

const TABLES: Array<keyof Pools> = ["users", "groups", "zones", "gates", "schedules", "grants", "credentials"];

/** Rows the writers must never touch (the test's own admin and its token). */
export interface Exclude {
  users?: string[];
  credentials?: string[];
}

export async function loadPools(sql: Sql, exclude: Exclude = {}): Promise<Pools> {
  const out = {} as Pools;
  const [row] = await sql.unsafe(`select ${TABLES.map((t) => `(select coalesce(array_agg(id order by id), '{}') from ${t}) as ${t}`).join(", ")}`);
  for (const t of TABLES) out[t] = (row as any)[t];
  out.users = out.users.filter((u) => !exclude.users?.includes(u));
  out.credentials = out.credentials.filter((c) => !exclude.credentials?.includes(c));
  return out;
}

export interface WriterStats {
  ok: number;
  /** Refused as the API would refuse them (stale reference, duplicate, cycle, in use): 4xx. */
  refused: number;
  /** Anything else — never expected. */
  unexpected: Array<{ op: string; error: string }>;
  byOp: Record<string, number>;
}

let uniq = 0;
const name = (p: string) => `${p}-${process.pid.toString(36)}-${(++uniq).toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

/**
 * One random write at a time. `base` is the instant validity windows are placed around (so they
 * open and close near the instants the checks decide at).
 */
export class GraphWriter {
  readonly stats: WriterStats = { ok: 0, refused: 0, unexpected: [], byOp: {} };
  /** Soft bounds: past them, deletes become likelier than creates. */
  caps = { users: 60, groups: 20, gates: 30, credentials: 80, grants: 120, schedules: 8, zones: 6 };

  /** `pools` may be shared by several writers running concurrently (it is updated in place). */
  constructor(private readonly sql: Sql, private readonly r: Rand, readonly pools: Pools, private readonly base = Date.now(),
              private readonly exclude: Exclude = {}) {}

  private instant(spreadHours = 72): string {
    const minutes = Math.round((this.r.int(2001) / 1000 - 1) * spreadHours * 60);
    const iso = new Date(this.base + minutes * 60_000 + (this.r.chance(0.2) ? this.r.int(1000) : 0)).toISOString();
    // Postgres keeps microseconds: sometimes use them (both sides must agree at that precision;
    // only the direct-SQL "validity-us" op stores them — a postgres.js parameter goes through a Date).
    return this.r.chance(0.2) ? `${iso.slice(0, -1)}${String(1 + this.r.int(999)).padStart(3, "0")}Z` : iso;
  }

  private window(): { from: string | null; until: string | null } {
    const from = this.r.chance(0.5) ? null : this.instant();
    let until = this.r.chance(0.5) ? null : this.instant();
    if (from !== null && until !== null && Date.parse(until) <= Date.parse(from)) {
      until = new Date(Date.parse(from) + (1 + this.r.int(48)) * HOUR).toISOString();
    }
    return { from, until };
  }

  private hhmm(allow24: boolean): string {
    if (allow24 && this.r.chance(0.15)) return "24:00";
    const m = this.r.int(96) * 15;
    return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
  }

  private windows() {
    const out = [];
    for (let i = 0, n = this.r.int(3) + (this.r.chance(0.1) ? 0 : 1); i < n; i++) {
      const days = [...new Set(Array.from({ length: 1 + this.r.int(5) }, () => 1 + this.r.int(7)))];
      const start = this.hhmm(false);
      let end = this.hhmm(true);
      if (end === start) end = "24:00";
      out.push({ days, start, end });
    }
    return out;
  }

  private some(pool: keyof Pools): string | undefined {
    const p = this.pools[pool];
    return p.length ? this.r.pick(p) : undefined;
  }

  private drop(pool: keyof Pools, id: string): void {
    const p = this.pools[pool];
    const i = p.indexOf(id);
    if (i >= 0) p.splice(i, 1);
  }

  private full(pool: keyof GraphWriter["caps"]): boolean {
    return this.pools[pool].length >= this.caps[pool];
  }

  /** Direct SQL in one transaction, taking the revision lock first as the admin services do. */
  private async direct(fn: (tx: any) => Promise<unknown>): Promise<unknown> {
    try {
      return await this.sql.begin(async (tx) => {
        await tx`select n from pcl_revision for update`;
        return fn(tx);
      });
    } catch (e) {
      throw mapDbError(e); // a row another writer just deleted: refused, as the API would refuse it
    }
  }

  /** Builds the initial graph. */
  async seed(scale = 1): Promise<void> {
    const n = (k: number) => Math.max(1, Math.round(k * scale));
    for (let i = 0; i < n(2); i++) await this.run("zone+");
    for (let i = 0; i < n(6); i++) await this.run("gate+");
    for (let i = 0; i < n(3); i++) await this.run("schedule+");
    for (let i = 0; i < n(8); i++) await this.run("user+");
    for (let i = 0; i < n(5); i++) await this.run("group+");
    await this.run("group-cycle");
    for (let i = 0; i < n(10); i++) await this.run("member+");
    for (let i = 0; i < n(16); i++) await this.run("grant+");
    for (let i = 0; i < n(12); i++) await this.run("credential+");
  }

  private pickOp(): string {
    const r = this.r;
    const ops: Array<[string, number]> = [
      ["user+", this.full("users") ? 1 : 6], ["user~", 5], ["user-", this.full("users") ? 4 : 1],
      ["group+", this.full("groups") ? 1 : 3], ["group~", 3], ["group-cycle", 1], ["group-", this.full("groups") ? 3 : 1],
      ["member+", 8], ["member-", 4], ["members-bulk", 1],
      ["zone+", this.full("zones") ? 0 : 1], ["zone-", this.full("zones") ? 1 : 0.2],
      ["gate+", this.full("gates") ? 1 : 3], ["gate~", 4], ["gate-", this.full("gates") ? 2 : 0.5],
      ["schedule+", this.full("schedules") ? 0 : 1], ["schedule~", 2], ["schedule-", 0.5],
      ["grant+", this.full("grants") ? 2 : 10], ["grant~", 4], ["grant-", this.full("grants") ? 6 : 2], ["grants-flip", 1],
      ["credential+", this.full("credentials") ? 2 : 8], ["credential~", 2], ["credential-revoke", 2], ["credential-", this.full("credentials") ? 4 : 1],
      ["import", 0.5], ["validity-us", 1],
    ];
    let total = 0;
    for (const [, w] of ops) total += w;
    let x = r.int(Math.round(total * 100)) / 100;
    for (const [op, w] of ops) if ((x -= w) < 0) return op;
    return "user+";
  }

  /** One random write; resolves after it committed or was refused. */
  async step(): Promise<string> {
    const op = this.pickOp();
    await this.run(op);
    return op;
  }

  async run(op: string): Promise<void> {
    this.stats.byOp[op] = (this.stats.byOp[op] ?? 0) + 1;
    try {
      const did = await this.apply(op);
      if (did === false) this.stats.refused++;
      else this.stats.ok++;
    } catch (e: any) {
      if (e instanceof ApiError && e.status < 500) this.stats.refused++;
      else if (e instanceof ApiError && e.code === "unavailable" && /concurrent write/.test(e.message)) this.stats.refused++;
      else this.stats.unexpected.push({ op, error: String(e?.stack ?? e) });
    }
  }

  private async apply(op: string): Promise<boolean> {
    const r = this.r, sql = this.sql, C = COLLECTIONS;
    let id: string | undefined;
    switch (op) {
      case "user+": {
        const w = r.chance(0.3) ? this.window() : { from: null, until: null };
        const u = await crud.create(sql, ACTOR, C.users, { username: name("u"), active: r.chance(0.85), valid_from: w.from, valid_until: w.until });
        this.pools.users.push(u.value.id as string);
        return true;
      }
      case "user~": {
        if (!(id = this.some("users"))) return false;
        const w = this.window();
        const patch = r.chance(0.5) ? { active: r.chance(0.7) } : { valid_from: w.from, valid_until: w.until };
        await crud.update(sql, ACTOR, C.users, id, patch);
        return true;
      }
      case "user-": {
        if (!(id = this.some("users"))) return false;
        await crud.remove(sql, ACTOR, C.users, id);
        this.drop("users", id);
        return true;
      }
      case "group+": {
        const parent = r.chance(0.6) ? this.some("groups") : undefined;
        const g = await crud.create(sql, ACTOR, C.groups, { name: name("g"), parent_id: parent ?? null });
        this.pools.groups.push(g.value.id as string);
        return true;
      }
      case "group~": {
        // Through the API: a cycle is refused (400).
        if (!(id = this.some("groups"))) return false;
        const parent = r.chance(0.8) ? this.some("groups") : null;
        await crud.update(sql, ACTOR, C.groups, id, { parent_id: parent === id ? null : parent ?? null });
        return true;
      }
      case "group-cycle": {
        // Direct SQL can close a cycle the API refuses: the index and SQL must both cope.
        if (this.pools.groups.length < 2) return false;
        const a = this.some("groups")!, b = this.some("groups")!;
        if (a === b) return false;
        await this.direct(async (tx) => {
          await tx`update groups set parent_id = ${b}, updated_at = now() where id = ${a}`;
          await tx`update groups set parent_id = ${a}, updated_at = now() where id = ${b}`;
        });
        return true;
      }
      case "group-": {
        if (!(id = this.some("groups"))) return false;
        await crud.remove(sql, ACTOR, C.groups, id);
        this.drop("groups", id);
        return true;
      }
      case "member+": {
        const g = this.some("groups"), u = this.some("users");
        if (!g || !u) return false;
        await crud.addMember(sql, ACTOR, g, u);
        return true;
      }
      case "member-": {
        const [m] = await sql`select group_id, user_id from memberships order by random() limit 1`;
        if (!m) return false;
        await crud.removeMember(sql, ACTOR, m.group_id, m.user_id);
        return true;
      }
      case "members-bulk": {
        // One set-based statement, many memberships, one revision.
        const g = this.some("groups");
        if (!g) return false;
        const users = this.pools.users.filter(() => r.chance(0.3));
        await this.direct(async (tx) => {
          await tx`delete from memberships where group_id = ${g} and not (user_id = any(${users}))`;
          await tx`insert into memberships (group_id, user_id) select ${g}, u from unnest(${users}::text[]) u
                   where exists (select 1 from users where id = u) on conflict do nothing`;
        });
        return true;
      }
      case "zone+": {
        const z = await crud.create(sql, ACTOR, C.zones, { name: name("z") });
        this.pools.zones.push(z.value.id as string);
        return true;
      }
      case "zone-": {
        if (!(id = this.some("zones"))) return false;
        await crud.remove(sql, ACTOR, C.zones, id);
        this.drop("zones", id);
        return true;
      }
      case "gate+": {
        const gid = name("G").replace(/[^A-Za-z0-9_.:-]/g, "_");
        await crud.create(sql, ACTOR, C.gates, {
          id: gid, name: gid, zone_id: r.chance(0.75) ? this.some("zones") ?? null : null, mode: r.pick(MODES), unlock_ms: r.int(5) * 500,
        });
        this.pools.gates.push(gid);
        return true;
      }
      case "gate~": {
        if (!(id = this.some("gates"))) return false;
        const patch = r.chance(0.5) ? { mode: r.pick(MODES) } : { zone_id: r.chance(0.8) ? this.some("zones") ?? null : null };
        await crud.update(sql, ACTOR, C.gates, id, patch);
        return true;
      }
      case "gate-": {
        if (!(id = this.some("gates"))) return false;
        await crud.remove(sql, ACTOR, C.gates, id);
        this.drop("gates", id);
        return true;
      }
      case "schedule+": {
        const s = await crud.create(sql, ACTOR, C.schedules, { name: name("s"), timezone: r.pick(TIMEZONES), windows: this.windows() });
        this.pools.schedules.push(s.value.id as string);
        return true;
      }
      case "schedule~": {
        if (!(id = this.some("schedules"))) return false;
        const patch = r.chance(0.7) ? { windows: this.windows() } : { timezone: r.pick(TIMEZONES) };
        await crud.update(sql, ACTOR, C.schedules, id, patch);
        return true;
      }
      case "schedule-": {
        // Refused (409) while a grant uses it.
        if (!(id = this.some("schedules"))) return false;
        await crud.remove(sql, ACTOR, C.schedules, id);
        this.drop("schedules", id);
        return true;
      }
      case "grant+":
      case "grant~": {
        const byGroup = this.pools.groups.length > 0 && (this.pools.users.length === 0 || r.chance(0.6));
        const toZone = this.pools.zones.length > 0 && (this.pools.gates.length === 0 || r.chance(0.4));
        const subject = byGroup ? { group_id: this.some("groups")! } : this.pools.users.length ? { user_id: this.some("users")! } : null;
        const target = toZone ? { zone_id: this.some("zones")! } : this.pools.gates.length ? { gate_id: this.some("gates")! } : null;
        if (!subject || !target) return false;
        const w = r.chance(0.4) ? this.window() : { from: null, until: null };
        const body: Record<string, unknown> = {
          subject, target, effect: r.chance(0.25) ? "deny" : "allow",
          schedule_id: r.chance(0.4) ? this.some("schedules") ?? null : null, valid_from: w.from, valid_until: w.until,
        };
        if (op === "grant+") {
          const g = await crud.create(sql, ACTOR, C.grants, body);
          this.pools.grants.push(g.value.id as string);
        } else {
          if (!(id = this.some("grants"))) return false;
          // Re-subject, re-target or change the rest: a part of the grant at a time.
          const keys = Object.keys(body).filter(() => r.chance(0.5));
          await crud.update(sql, ACTOR, C.grants, id, Object.fromEntries(keys.map((k) => [k, body[k]])));
        }
        return true;
      }
      case "grant-": {
        if (!(id = this.some("grants"))) return false;
        await crud.remove(sql, ACTOR, C.grants, id);
        this.drop("grants", id);
        return true;
      }
      case "grants-flip": {
        // One statement changing many grants at once.
        const ids = this.pools.grants.filter(() => r.chance(0.2));
        await this.direct((tx) => tx`update grants set effect = case effect when 'allow' then 'deny' else 'allow' end, updated_at = now()
                                    where id = any(${ids})`);
        return true;
      }
      case "credential+": {
        if (!(id = this.some("users"))) return false;
        const c = await crud.create(sql, ACTOR, C.credentials, {
          user_id: id, kind: r.pick(KINDS), label: null,
          expires_at: r.chance(0.25) ? this.instant() : null, valid_from: r.chance(0.2) ? this.instant() : null,
        });
        this.pools.credentials.push(c.value.id as string);
        return true;
      }
      case "credential~": {
        if (!(id = this.some("credentials"))) return false;
        const w = this.window();
        if (r.chance(0.3)) {
          // A new secret for the same credential (direct SQL: the API never changes a secret).
          await this.direct((tx) => tx`update credentials set secret_hash = ${hashSecret(name("s"))}, updated_at = now() where id = ${id!}`);
        } else {
          await crud.update(sql, ACTOR, C.credentials, id, { valid_from: w.from, expires_at: w.until });
        }
        return true;
      }
      case "credential-revoke": {
        if (!(id = this.some("credentials"))) return false;
        await crud.revokeCredential(sql, ACTOR, C.credentials, id);
        return true;
      }
      case "credential-": {
        if (!(id = this.some("credentials"))) return false;
        await crud.remove(sql, ACTOR, C.credentials, id);
        this.drop("credentials", id);
        return true;
      }
      case "validity-us": {
        // A bound with microseconds, as an operator's SQL can write (the API keeps milliseconds).
        const w = this.window();
        const [table, col1, col2] = r.pick([["users", "valid_from", "valid_until"], ["grants", "valid_from", "valid_until"], ["credentials", "valid_from", "expires_at"]] as const);
        if (!(id = this.some(table))) return false;
        await this.direct((tx) => tx`update ${tx(table)} set ${tx(col1)} = ${w.from}::text::timestamptz, ${tx(col2)} = ${w.until}::text::timestamptz,
                                     updated_at = now() where id = ${id!}`);
        return true;
      }
      case "import": {
        // Several collections in one transaction (one revision), by natural keys.
        const parent = name("ig"), child = name("ig"), user = name("iu"), gate = name("IG").replace(/[^A-Za-z0-9_.:-]/g, "_");
        await importData(sql, ACTOR, {
          users: [{ username: user, active: r.chance(0.9) }],
          groups: [{ name: child, parent }, { name: parent }],
          memberships: [{ group: child, username: user }],
          gates: [{ id: gate, name: gate, mode: r.pick(MODES) }],
          grants: [{ group: parent, gate, effect: r.chance(0.8) ? "allow" : "deny" }],
          credentials: [{ username: user, kind: "card", secret: name("card") }],
        });
        // Learn the new ids.
        Object.assign(this.pools, await loadPools(sql, this.exclude));
        return true;
      }
    }
    throw new Error(`unknown op ${op}`);
  }
}

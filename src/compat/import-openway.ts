// `bun run cli import-openway <postgres-url> [--events]`: moves an openway_access (Django)
// database into Portcullis in ONE transaction (write(): one revision, one audit row), with
// set-based statements (unnest arrays), so re-running it is safe and cheap.
//
// Read from Django in one REPEATABLE READ, read-only transaction (a consistent picture even while
// the old service still runs): auth_user, auth_group, auth_user_groups, authtoken_token,
// access_accesspoint, access_accesspermission, devices_device, and with --events
// access_accessevent.
//
// What becomes what
//   auth_user            → users (openway_id = Django id; matched by openway_id, else adopted by
//                          username): username, email, display name (first + last), active, and
//                          the password hash as Django wrote it (pbkdf2_sha256$…; verified by
//                          src/admin/passwords.ts, re-hashed to argon2id at the first login).
//                          Unusable passwords ("!…") become none. A user who has logged in to
//                          Portcullis since (argon2id hash) keeps that hash on a re-import.
//   auth_group           → groups (openway_id; else adopted by name)
//   auth_user_groups     → memberships; on a re-import, memberships between imported users and
//                          imported groups that Django no longer has are removed.
//   access_accesspoint   → gates: code → gate id, name (the code when blank); new gates get the
//                          defaults (mode normal, unlock_ms 800); existing ones keep their mode,
//                          zone and unlock time.
//   access_accesspermission, allow=true → one allow grant per subject (user and/or group) on the
//                          gate, keyed "perm:<id>:user|group" (grants.openway_key). allow=false
//                          rows grant nothing, as in the original (they were never a deny). On a
//                          re-import, imported grants whose row is gone or no longer allows are
//                          deleted; grants made in Portcullis are never touched.
//   authtoken_token      → a session credential with the user scope, no expiry, stored as the
//                          SHA-256 of the key (so the same key keeps verifying and authenticating).
//                          An imported token that Django no longer has is revoked on a re-import.
//   devices_device       → devices (openway_id; number = the Django id when free, so clients keep
//                          their integer device ids) with android_device_id, and a device
//                          credential holding the SHA-256 of auth_token; is_active=false → the
//                          device and its credential are revoked. A token rotated in Django since
//                          the last import replaces the imported one; a token rotated through the
//                          compatibility API since is Portcullis' own and stays. Revocations are
//                          sticky: a re-import never un-revokes a device or a token.
//   access_accessevent   → access_events (--events), within EVENT_RETENTION_DAYS; ids derived from
//                          the Django ids (a re-run inserts nothing twice), reasons in Portcullis'
//                          words (OK → granted, TOKEN_INVALID → unknown_token, …), revision 0.
//
// Nothing is deleted except as said above (imported grants, memberships between imported rows).
// Gate codes must be valid gate ids ([A-Za-z0-9_.:-], up to 64): the import refuses otherwise,
// naming them, rather than leave gates behind that clients would then find unknown.
//
// The parts, in src/compat/openway-import/: source.ts (reading Django), users.ts (users, groups,
// memberships), access.ts (gates, grants), credentials.ts (login tokens, devices), events.ts; the
// SQL they share with the file import is admin/import-sql.ts (and admin's upsertGates). This file
// runs them in one transaction and is the CLI command.
import postgres from "postgres";
import type { Sql } from "../db/client";
import { type Tx, write } from "../admin/tx";
import { syncGates, syncGrants } from "./openway-import/access";
import { syncDevices, syncTokens } from "./openway-import/credentials";
import { copyEvents } from "./openway-import/events";
import { checkGateCodes, OpenwayImportError, readSource, type Source } from "./openway-import/source";
import type { Tally } from "./openway-import/tally";
import { idMap, syncMemberships, upsertGroups, upsertUsers } from "./openway-import/users";

export { OpenwayImportError };
export type { Tally } from "./openway-import/tally";

export interface OpenwayImportOptions {
  /** Also copy access_accessevent (within retentionDays). */
  events?: boolean;
  retentionDays?: number;
  /** Events per batch (source cursor and insert). */
  eventBatch?: number;
}

export interface OpenwayImportResult {
  revision: number;
  counts: Record<string, Tally>;
  /** Devices whose Django id was taken by another device here: they got a new number. */
  renumberedDevices: number;
  skippedEventsOlderThanRetention: number;
  notes: string[];
}

export async function importOpenway(target: Sql, sourceUrl: string, opts: OpenwayImportOptions = {}): Promise<OpenwayImportResult> {
  const src = postgres(sourceUrl, {
    max: 1, connect_timeout: 10, onnotice: () => {}, idle_timeout: 5,
    types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
  });
  try {
    return (await src.begin("isolation level repeatable read read only", async (s) => {
      const data = await readSource(s, opts.events === true);
      checkGateCodes(data);
      const w = await write(target, { credentialId: null }, async (tx, audit) => {
        await tx.unsafe("set local statement_timeout = 0");
        const result = await upsertAll(tx, data);
        if (opts.events) {
          const ev = await copyEvents(s, tx, opts.retentionDays ?? 90, opts.eventBatch ?? 5000);
          result.counts.events = ev.tally;
          result.skippedEventsOlderThanRetention = ev.skipped;
        }
        audit({ action: "import", entity: "openway", entityId: null, before: null, after: { counts: result.counts, renumbered_devices: result.renumberedDevices } });
        return result;
      });
      return { ...w.value, revision: w.revision };
    })) as OpenwayImportResult;
  } finally {
    await src.end({ timeout: 5 });
  }
}

/** Every table but the events, in dependency order. */
async function upsertAll(tx: Tx, data: Source): Promise<Omit<OpenwayImportResult, "revision">> {
  const counts: Record<string, Tally> = {};
  const notes: string[] = [];
  counts.users = await upsertUsers(tx, data);
  counts.groups = await upsertGroups(tx, data);
  const userIds = await idMap(tx, "users", data.users.map((u) => u.id));
  const groupIds = await idMap(tx, "groups", data.groups.map((g) => g.id));
  counts.memberships = await syncMemberships(tx, data, userIds, groupIds);
  counts.gates = await syncGates(tx, data);
  counts.grants = await syncGrants(tx, data, userIds, groupIds);
  counts.login_tokens = await syncTokens(tx, data, userIds);
  const devices = await syncDevices(tx, data, userIds);
  counts.devices = devices.tally;
  counts.device_tokens = devices.tokens;
  if (devices.renumbered) notes.push(`${devices.renumbered} device(s) got a new integer id: their Django id was taken by another device`);
  return { counts, renumberedDevices: devices.renumbered, skippedEventsOlderThanRetention: 0, notes };
}

// ---------------------------------------------------------------------------------------------
// CLI

function printable(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(the given URL)";
  }
}

export async function importOpenwayCommand(target: Sql, sourceUrl: string, opts: OpenwayImportOptions): Promise<number> {
  let r: OpenwayImportResult;
  try {
    r = await importOpenway(target, sourceUrl, opts);
  } catch (e) {
    if (e instanceof OpenwayImportError) {
      console.error(`import-openway: ${e.message}; nothing was imported`);
      return 1;
    }
    throw e;
  }
  const rows: Array<[string, string, string, string, string]> = [["", "in openway", "inserted", "updated", "removed/revoked"]];
  for (const [k, t] of Object.entries(r.counts)) rows.push([k, String(t.source), String(t.inserted), String(t.updated), String(t.removed)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  console.log(`imported ${printable(sourceUrl)} in one transaction (revision ${r.revision})`);
  for (const row of rows) console.log("  " + row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
  for (const n of r.notes) console.log(`note: ${n}`);
  if (r.skippedEventsOlderThanRetention) console.log(`note: ${r.skippedEventsOlderThanRetention} events older than EVENT_RETENTION_DAYS were not copied`);
  return 0;
}

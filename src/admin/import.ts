// Bulk import: users, groups, memberships, zones, gates, schedules, grants and credentials, rows
// referring to each other by natural keys (username, group/zone/schedule name, gate id), upserted
// in ONE transaction (one revision, one audit row) with set-based statements: each collection is
// one `insert … select … from unnest(<arrays>) … on conflict … do update` (plus a few set-based
// helpers), never a statement per row, so 100k rows take seconds.
//
// Order of work, so that a bad file costs no database writes:
//   1. every row is checked in memory (types, required keys, enums, RFC 3339 times, timezones,
//      windows, duplicates within the file); the first problem answers 400 naming collection,
//      row (1-based; for CSV the line in the file, header = line 1) and field;
//   2. passwords are hashed (argon2id, concurrently; an unchanged password keeps its hash);
//   3. in the transaction: the revision lock, then references to rows that are not in the file
//      are looked up in Postgres (one query per kind of reference), then the upserts.
//
// Upsert semantics
//   - A key that is absent from a row (or an empty CSV cell) leaves that column alone on an
//     existing row and takes the column's default on a new one; JSON `null` clears a nullable
//     column. So re-importing a users file without `active` never reactivates anybody, and a file
//     without passwords never removes one. Unchanged rows are not written at all (no revision,
//     no change-log churn): re-importing the same file is a no-op.
//   - Grants have no natural key in the schema. A grant is identified by
//     (subject, target, effect, schedule): the same subject may be allowed at the same target
//     under two different schedules, and an allow and a deny for the same pair are two rules;
//     the validity window is an attribute of the rule, replaced by the import (absent = open),
//     because a grant row in a file describes the whole rule. Re-importing a file never
//     duplicates a grant. (The schema has no unique index on that identity — CRUD may create
//     twins — so instead of `on conflict` this is one set-based update of the matching grants
//     plus one `insert … where not exists`; two imports cannot interleave, since each holds the
//     revision lock throughout. A unique index on the identity would make it one statement.)
//   - Credentials are identified by the SHA-256 of their secret (the only thing stored). A secret
//     that already belongs to another user's credential, or to one of another kind, is refused
//     with 409: an import never moves a credential between users. A revoked credential stays
//     revoked: re-importing its secret updates label/scopes/dates but does not resurrect it.
//   - Groups and zones have nothing but their name (and parent): existing ones are kept.
//   - An import adds and updates, it never deletes: rows (and memberships) not in the file stay.
//
// The parts: import-fields.ts (collections and their TypeBox row models), import-validate.ts and
// import-problems.ts (the checks in memory), import-csv.ts (CSV to rows), import-upsert.ts
// (references and upserts), import-sql.ts (the SQL shared with the openway import); this file
// hashes the passwords and runs it all in one transaction.
import type { Sql } from "../db/client";
import { type Actor, write, type Written } from "./tx";
import { mapDbError } from "../db/errors";
import { IMPORT_COLLECTIONS, type ImportCollection, type ImportProgress, type ImportResult, importDbError, type RowNumbers } from "./import-fields";
import { type Part, type Plan, validateImport } from "./import-validate";
import { type Counts, pgArray } from "./import-sql";
import { checkCredentialOwners, checkMergedWindows, checkReferences, upsertCredentials, upsertGates, upsertGrants, upsertGroups, upsertMemberships, upsertSchedules, upsertUsers, upsertZones } from "./import-upsert";

// ---------------------------------------------------------------------------------------------
// Passwords

/** argon2id for rows with a password, concurrently; a password equal to the stored one keeps its hash. */
async function hashPasswords(sql: Sql, plan: Plan, onProgress?: (p: ImportProgress) => void): Promise<void> {
  const rows = plan.parts.users?.rows ?? [];
  const out: (string | null | undefined)[] = new Array(rows.length).fill(undefined);
  const withPassword: number[] = [];
  rows.forEach((r, i) => {
    if (r.password === null) out[i] = null;
    else if (typeof r.password === "string") withPassword.push(i);
  });
  if (withPassword.length > 0) {
    const stored = new Map<string, string>();
    try {
      const found = await sql`select username, password_hash from users
                              where password_hash is not null and username = any(${pgArray(withPassword.map((i) => rows[i]!.username))}::text[])`;
      for (const f of found) stored.set(f.username, f.password_hash);
    } catch (e) {
      throw mapDbError(e);
    }
    let hashed = 0;
    await Promise.all(withPassword.map(async (i) => {
      const r = rows[i]!;
      const old = stored.get(r.username);
      if (old !== undefined && (await Bun.password.verify(r.password, old).catch(() => false))) { // unchanged
        onProgress?.({ stage: "passwords", done: ++hashed, total: withPassword.length });
        return;
      }
      out[i] = await Bun.password.hash(r.password, "argon2id");
      onProgress?.({ stage: "passwords", done: ++hashed, total: withPassword.length });
    }));
  }
  plan.passwordHashes = out;
}

// ---------------------------------------------------------------------------------------------
// The service

/**
 * Validates and upserts `data` in one transaction (one revision, one audit row "import").
 * `rowNumbers` lets CSV callers report file lines instead of positions.
 */
export async function importData(sql: Sql, actor: Actor, data: unknown, rowNumbers: RowNumbers = {}, onProgress?: (p: ImportProgress) => void): Promise<Written<ImportResult>> {
  const plan = validateImport(data, rowNumbers);
  await hashPasswords(sql, plan, onProgress);
  const { parts } = plan;
  const totalRows = IMPORT_COLLECTIONS.reduce((n, c) => n + (parts[c]?.rows.length ?? 0), 0);
  let rowsDone = 0;
  return write(sql, actor, async (tx, audit) => {
    // write() took the revision lock first: nothing another writer commits can slip between our
    // reference checks and our upserts.
    // A 64 MiB file is hundreds of thousands of rows per statement: more than the pool's
    // fail-fast statement timeout is meant for.
    await tx`set local statement_timeout = '5min'`;
    await checkReferences(tx, plan);
    await checkMergedWindows(tx, parts.users, "users", (r) => r.username, "username", "valid_from", "valid_until");
    await checkMergedWindows(tx, parts.credentials, "credentials", (_r, i) => plan.secretHashes[i]!, "secret_hash", "valid_from", "expires_at");
    await checkCredentialOwners(tx, parts.credentials, plan.secretHashes);

    const result: ImportResult = { counts: {}, inserted: {}, updated: {} };
    const run = async (c: ImportCollection, fn: (part: Part) => Promise<Counts>) => {
      const part = parts[c];
      if (!part) return;
      let n: Counts = { inserted: 0, updated: 0 };
      try {
        if (part.rows.length > 0) n = await fn(part);
      } catch (e) {
        throw importDbError(e, c);
      }
      result.counts[c] = part.rows.length;
      onProgress?.({ stage: c, done: (rowsDone += part.rows.length), total: totalRows });
      result.inserted[c] = n.inserted;
      result.updated[c] = n.updated;
    };
    await run("users", (p) => upsertUsers(tx, p, plan.passwordHashes));
    await run("groups", (p) => upsertGroups(tx, p));
    await run("zones", (p) => upsertZones(tx, p));
    await run("gates", (p) => upsertGates(tx, p.rows));
    await run("schedules", (p) => upsertSchedules(tx, p));
    await run("memberships", (p) => upsertMemberships(tx, p));
    await run("grants", (p) => upsertGrants(tx, p));
    await run("credentials", (p) => upsertCredentials(tx, p, plan.secretHashes));
    // Keys in the documented order, whatever order the upserts ran in.
    const order = <T>(o: Partial<Record<ImportCollection, T>>) =>
      Object.fromEntries(IMPORT_COLLECTIONS.filter((c) => o[c] !== undefined).map((c) => [c, o[c]])) as Partial<Record<ImportCollection, T>>;
    const out = { counts: order(result.counts), inserted: order(result.inserted), updated: order(result.updated) };
    audit({ action: "import", entity: "import", entityId: null, before: null, after: out.counts });
    return out;
  });
}

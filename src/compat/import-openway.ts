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
import postgres from "postgres";
import type { Sql } from "../db/client";
import { pgArray } from "../admin/import-sql";
import { type Tx, write } from "../admin/tx";
import { hashSecret } from "../tokens";
import { DEVICE_NAME, tokenPreview } from "./devices";

export interface OpenwayImportOptions {
  /** Also copy access_accessevent (within retentionDays). */
  events?: boolean;
  retentionDays?: number;
  /** Events per batch (source cursor and insert). */
  eventBatch?: number;
}

export interface Tally {
  source: number;
  inserted: number;
  updated: number;
  removed: number;
}

export interface OpenwayImportResult {
  revision: number;
  counts: Record<string, Tally>;
  /** Devices whose Django id was taken by another device here: they got a new number. */
  renumberedDevices: number;
  skippedEventsOlderThanRetention: number;
  notes: string[];
}

const tally = (source: number, inserted = 0, updated = 0, removed = 0): Tally => ({ source, inserted, updated, removed });
const GATE_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
const REQUIRED_TABLES = ["auth_user", "auth_group", "auth_user_groups", "authtoken_token", "access_accesspoint", "access_accesspermission", "devices_device"];

export class OpenwayImportError extends Error {}

// ---------------------------------------------------------------------------------------------
// Reading Django

interface Source {
  users: Array<{ id: number; username: string; email: string | null; first_name: string | null; last_name: string | null; password: string | null; is_active: boolean }>;
  groups: Array<{ id: number; name: string }>;
  memberships: Array<{ user_id: number; group_id: number }>;
  tokens: Array<{ key: string; user_id: number }>;
  points: Array<{ id: number; code: string; name: string | null }>;
  permissions: Array<{ id: number; access_point_id: number; user_id: number | null; group_id: number | null }>;
  devices: Array<{ id: number; user_id: number; name: string | null; android_device_id: string | null; auth_token: string | null; is_active: boolean; created_at: Date | null }>;
}

async function readSource(s: postgres.TransactionSql, events: boolean): Promise<Source> {
  const need = events ? [...REQUIRED_TABLES, "access_accessevent"] : REQUIRED_TABLES;
  const present = await s<{ t: string }[]>`select t from unnest(${need}::text[]) t where to_regclass(t) is not null`;
  const missing = need.filter((t) => !present.some((p) => p.t === t));
  if (missing.length) throw new OpenwayImportError(`not an openway_access database: missing table${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  const [users, groups, memberships, tokens, points, permissions, devices] = await Promise.all([
    s`select id::int8 as id, username, email, first_name, last_name, password, is_active from auth_user order by id`,
    s`select id::int8 as id, name from auth_group order by id`,
    s`select user_id::int8 as user_id, group_id::int8 as group_id from auth_user_groups`,
    s`select key, user_id::int8 as user_id from authtoken_token`,
    s`select id::int8 as id, code, name from access_accesspoint order by id`,
    s`select id::int8 as id, access_point_id::int8 as access_point_id, user_id::int8 as user_id, group_id::int8 as group_id
      from access_accesspermission where allow order by id`,
    s`select id::int8 as id, user_id::int8 as user_id, name, android_device_id, auth_token, is_active, created_at from devices_device order by id`,
  ]);
  return { users, groups, memberships, tokens, points, permissions, devices } as unknown as Source;
}

// ---------------------------------------------------------------------------------------------
// The import

export async function importOpenway(target: Sql, sourceUrl: string, opts: OpenwayImportOptions = {}): Promise<OpenwayImportResult> {
  const src = postgres(sourceUrl, {
    max: 1, connect_timeout: 10, onnotice: () => {}, idle_timeout: 5,
    types: { bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) } },
  });
  try {
    return (await src.begin("isolation level repeatable read read only", async (s) => {
      const data = await readSource(s, opts.events === true);
      const badCodes = data.points.filter((p) => !GATE_ID.test(p.code)).map((p) => JSON.stringify(p.code));
      if (badCodes.length) {
        throw new OpenwayImportError(`access point codes that are not valid gate ids (letters, digits, _ . : -, up to 64): ${badCodes.slice(0, 20).join(", ")}${badCodes.length > 20 ? ` and ${badCodes.length - 20} more` : ""}`);
      }
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

async function upsertAll(tx: Tx, data: Source): Promise<Omit<OpenwayImportResult, "revision">> {
  const counts: Record<string, Tally> = {};
  const notes: string[] = [];
  counts.users = await upsertUsers(tx, data);
  counts.groups = await upsertGroups(tx, data);
  const userIds = await idMap(tx, "users", data.users.map((u) => u.id));
  const groupIds = await idMap(tx, "groups", data.groups.map((g) => g.id));
  counts.memberships = await syncMemberships(tx, data, userIds, groupIds);
  counts.gates = await upsertGates(tx, data);
  counts.grants = await syncGrants(tx, data, userIds, groupIds);
  counts.login_tokens = await syncTokens(tx, data, userIds);
  const devices = await syncDevices(tx, data, userIds);
  counts.devices = devices.tally;
  counts.device_tokens = devices.tokens;
  if (devices.renumbered) notes.push(`${devices.renumbered} device(s) got a new integer id: their Django id was taken by another device`);
  return { counts, renumberedDevices: devices.renumbered, skippedEventsOlderThanRetention: 0, notes };
}

/** Django id → Portcullis id for imported users or groups. */
async function idMap(tx: Tx, table: "users" | "groups", oids: number[]): Promise<Map<number, string>> {
  const rows = await tx.unsafe<{ id: string; openway_id: number }[]>(
    `select id, openway_id from ${table} where openway_id = any($1::int8[])`, [pgArray(oids)]);
  return new Map(rows.map((r) => [Number(r.openway_id), r.id]));
}

const counted = (r: any): { inserted: number; updated: number; removed: number } =>
  ({ inserted: Number(r?.inserted ?? 0), updated: Number(r?.updated ?? 0), removed: Number(r?.removed ?? 0) });

async function upsertUsers(tx: Tx, data: Source): Promise<Tally> {
  const u = data.users;
  const displayName = (r: Source["users"][number]) => [r.first_name, r.last_name].map((x) => (x ?? "").trim()).filter(Boolean).join(" ") || null;
  // Django marks unusable passwords with a leading "!": no password here.
  const password = (r: Source["users"][number]) => (r.password && !r.password.startsWith("!") ? r.password : null);
  const [r] = await tx`
    with s as (
      select * from unnest(${pgArray(u.map((x) => x.id))}::int8[], ${pgArray(u.map((x) => x.username))}::text[],
                           ${pgArray(u.map((x) => x.email || null))}::text[], ${pgArray(u.map(displayName))}::text[],
                           ${pgArray(u.map(password))}::text[], ${pgArray(u.map((x) => x.is_active))}::bool[])
        as s(oid, username, email, display_name, pw, active)
    ), m as (
      select s.*, coalesce(a.id, b.id) as id
      from s
      left join users a on a.openway_id = s.oid
      left join users b on a.id is null and b.openway_id is null and b.username = s.username
    ), upd as (
      update users t set openway_id = m.oid, username = m.username, email = m.email, display_name = m.display_name,
             active = m.active, updated_at = now(),
             -- A hash Portcullis made since (argon2id: a login re-hashed it, or an admin set it) stays.
             password_hash = case when coalesce(left(t.password_hash, 10), '') = '$argon2id$' then t.password_hash else m.pw end
      from m
      where t.id = m.id and (
        t.openway_id is distinct from m.oid or t.username <> m.username or t.email is distinct from m.email
        or t.display_name is distinct from m.display_name or t.active <> m.active
        or (coalesce(left(t.password_hash, 10), '') <> '$argon2id$' and t.password_hash is distinct from m.pw))
      returning t.id
    ), ins as (
      insert into users (username, email, display_name, password_hash, active, openway_id)
      select username, email, display_name, pw, active, oid from m where m.id is null
      returning id
    )
    select (select count(*) from ins) as inserted, (select count(*) from upd) as updated`;
  return { source: u.length, ...counted(r) };
}

async function upsertGroups(tx: Tx, data: Source): Promise<Tally> {
  const g = data.groups;
  const [r] = await tx`
    with s as (
      select * from unnest(${pgArray(g.map((x) => x.id))}::int8[], ${pgArray(g.map((x) => x.name))}::text[]) as s(oid, name)
    ), m as (
      select s.*, coalesce(a.id, b.id) as id
      from s
      left join groups a on a.openway_id = s.oid
      left join groups b on a.id is null and b.openway_id is null and b.name = s.name
    ), upd as (
      update groups t set openway_id = m.oid, name = m.name, updated_at = now()
      from m where t.id = m.id and (t.openway_id is distinct from m.oid or t.name <> m.name)
      returning t.id
    ), ins as (
      insert into groups (name, openway_id) select name, oid from m where m.id is null returning id
    )
    select (select count(*) from ins) as inserted, (select count(*) from upd) as updated`;
  return { source: g.length, ...counted(r) };
}

async function syncMemberships(tx: Tx, data: Source, users: Map<number, string>, groups: Map<number, string>): Promise<Tally> {
  const pairs = data.memberships.filter((m) => users.has(m.user_id) && groups.has(m.group_id));
  const [r] = await tx`
    with s as (
      select * from unnest(${pgArray(pairs.map((m) => groups.get(m.group_id)))}::text[], ${pgArray(pairs.map((m) => users.get(m.user_id)))}::text[]) as s(group_id, user_id)
    ), del as (
      delete from memberships t using users u, groups g
      where t.user_id = u.id and t.group_id = g.id and u.openway_id is not null and g.openway_id is not null
        and not exists (select 1 from s where s.group_id = t.group_id and s.user_id = t.user_id)
      returning 1
    ), ins as (
      insert into memberships (group_id, user_id) select group_id, user_id from s on conflict do nothing returning 1
    )
    select (select count(*) from ins) as inserted, (select count(*) from del) as removed`;
  return { source: data.memberships.length, ...counted(r) };
}

async function upsertGates(tx: Tx, data: Source): Promise<Tally> {
  const p = data.points;
  // Gate names are 1..150 characters; Django's may be blank (then the code names the gate).
  const name = (x: Source["points"][number]) => (x.name ?? "").trim().slice(0, 150) || x.code;
  const [r] = await tx`
    with s as (
      select * from unnest(${pgArray(p.map((x) => x.code))}::text[], ${pgArray(p.map(name))}::text[]) as s(id, name)
    ), upd as (
      update gates t set name = s.name, updated_at = now() from s where t.id = s.id and t.name <> s.name returning t.id
    ), ins as (
      insert into gates (id, name) select s.id, s.name from s where not exists (select 1 from gates t where t.id = s.id) returning id
    )
    select (select count(*) from ins) as inserted, (select count(*) from upd) as updated`;
  return { source: p.length, ...counted(r) };
}

async function syncGrants(tx: Tx, data: Source, users: Map<number, string>, groups: Map<number, string>): Promise<Tally> {
  const code = new Map(data.points.map((p) => [p.id, p.code]));
  const rows: Array<{ key: string; user: string | null; group: string | null; gate: string }> = [];
  for (const p of data.permissions) {
    const gate = code.get(p.access_point_id);
    if (gate === undefined) continue;
    // A row may name a user and a group at once: the original allowed both (two separate checks).
    if (p.user_id !== null && users.has(p.user_id)) rows.push({ key: `perm:${p.id}:user`, user: users.get(p.user_id)!, group: null, gate });
    if (p.group_id !== null && groups.has(p.group_id)) rows.push({ key: `perm:${p.id}:group`, user: null, group: groups.get(p.group_id)!, gate });
  }
  const [r] = await tx`
    with s as (
      select * from unnest(${pgArray(rows.map((x) => x.key))}::text[], ${pgArray(rows.map((x) => x.user))}::text[],
                           ${pgArray(rows.map((x) => x.group))}::text[], ${pgArray(rows.map((x) => x.gate))}::text[])
        as s(k, user_id, group_id, gate_id)
    ), upd as (
      update grants t set subject_user_id = s.user_id, subject_group_id = s.group_id, target_gate_id = s.gate_id,
             target_zone_id = null, effect = 'allow', updated_at = now()
      from s
      where t.openway_key = s.k and (t.subject_user_id, t.subject_group_id, t.target_gate_id, t.target_zone_id, t.effect)
            is distinct from (s.user_id, s.group_id, s.gate_id, null::text, 'allow'::text)
      returning t.id
    ), ins as (
      insert into grants (subject_user_id, subject_group_id, target_gate_id, effect, openway_key)
      select s.user_id, s.group_id, s.gate_id, 'allow', s.k from s
      where not exists (select 1 from grants t where t.openway_key = s.k)
      returning id
    ), del as (
      delete from grants t where t.openway_key is not null and not exists (select 1 from s where s.k = t.openway_key) returning id
    )
    select (select count(*) from ins) as inserted, (select count(*) from upd) as updated, (select count(*) from del) as removed`;
  return { source: rows.length, ...counted(r) };
}

/** DRF tokens → session credentials (hash only); imported ones Django no longer has are revoked. */
async function syncTokens(tx: Tx, data: Source, users: Map<number, string>): Promise<Tally> {
  const rows = data.tokens.filter((t) => t.key && users.has(t.user_id));
  const hashes = rows.map((t) => hashSecret(t.key));
  const owners = rows.map((t) => users.get(t.user_id)!);
  const [r] = await tx`
    with s as (
      select * from unnest(${pgArray(owners)}::text[], ${pgArray(hashes)}::text[]) as s(user_id, h)
    ), ins as (
      insert into credentials (user_id, kind, label, scopes, secret_hash, openway_role)
      select user_id, 'session', 'openway token', '{user}', h, 'drf' from s
      on conflict (secret_hash) do nothing
      returning id
    ), rev as (
      update credentials t set revoked_at = now(), updated_at = now()
      where t.openway_role = 'drf' and t.revoked_at is null and not exists (select 1 from s where s.h = t.secret_hash)
      returning id
    )
    select (select count(*) from ins) as inserted, (select count(*) from rev) as removed`;
  await checkOwners(tx, owners, hashes, "session", "a login token");
  return { source: data.tokens.length, ...counted(r) };
}

/** A secret that already belonged to another user's credential (or another kind) is refused. */
async function checkOwners(tx: Tx, owners: string[], hashes: string[], kind: string, what: string): Promise<void> {
  if (!hashes.length) return;
  const [bad] = await tx`
    select count(*)::int as n from unnest(${pgArray(owners)}::text[], ${pgArray(hashes)}::text[]) as s(user_id, h)
    join credentials c on c.secret_hash = s.h where c.user_id <> s.user_id or c.kind <> ${kind}`;
  if (bad!.n > 0) throw new OpenwayImportError(`${bad!.n} × ${what} whose secret already belongs to another user's credential (or to one of another kind) here`);
}

interface DeviceSync {
  tally: Tally;
  tokens: Tally;
  renumbered: number;
}

async function syncDevices(tx: Tx, data: Source, users: Map<number, string>): Promise<DeviceSync> {
  const src = data.devices.filter((d) => users.has(d.user_id));
  const existing = new Map<number, { id: string; credential_id: string | null; revoked: boolean; secret_hash: string | null; role: string | null }>();
  const found = await tx`
    select d.id, d.openway_id, d.credential_id, d.revoked_at is not null as revoked,
           c.secret_hash, c.openway_role as role
    from devices d left join credentials c on c.id = d.credential_id
    where d.openway_id = any(${pgArray(src.map((d) => d.id))}::int8[])`;
  for (const f of found) existing.set(Number(f.openway_id), f as any);

  // Credentials to create: new devices' tokens, and tokens Django rotated since the last import.
  const newCreds: Array<{ device: number; user: string; hash: string; label: string; revoked: boolean }> = [];
  const revokeCreds: string[] = [];
  const updates: Array<{ id: string; name: string; android: string | null; revoke: boolean; preview: string | null; cred: number | null }> = [];
  const inserts: Array<typeof src[number]> = [];
  for (const d of src) {
    const e = existing.get(d.id);
    const hash = d.auth_token ? hashSecret(d.auth_token) : null;
    const name = (d.name ?? "").trim().slice(0, 150) || DEVICE_NAME;
    if (!e) {
      inserts.push(d);
      if (hash) newCreds.push({ device: d.id, user: users.get(d.user_id)!, hash, label: name, revoked: !d.is_active });
      continue;
    }
    const revoke = !d.is_active && !e.revoked;
    // Django rotated the token (the device still holds an imported one, with another hash), or
    // the device has none: take Django's. A token rotated here (not role 'device') stays.
    const takeDjango = hash !== null && !e.revoked && (e.credential_id === null || (e.role === "device" && e.secret_hash !== hash));
    if (takeDjango) newCreds.push({ device: d.id, user: users.get(d.user_id)!, hash, label: name, revoked: !d.is_active });
    // The replaced or revoked device's credential is revoked — and touched even when it already
    // was, so the index reloads it and learns that its device is revoked (DEVICE_INACTIVE).
    if ((takeDjango || revoke) && e.credential_id !== null) revokeCreds.push(e.credential_id);
    updates.push({ id: e.id, name, android: d.android_device_id, revoke, preview: takeDjango ? tokenPreview(d.auth_token!) : null, cred: takeDjango ? d.id : null });
  }

  // 1. Credentials, by secret hash (unique); a re-run finds them in place.
  let credIds = new Map<string, string>();
  let tokensInserted = 0;
  if (newCreds.length) {
    const ins = await tx`
      insert into credentials (user_id, kind, label, scopes, secret_hash, revoked_at, openway_role)
      select user_id, 'device', label, '{}', h, case when revoked then now() end, 'device'
      from unnest(${pgArray(newCreds.map((c) => c.user))}::text[], ${pgArray(newCreds.map((c) => c.label))}::text[],
                  ${pgArray(newCreds.map((c) => c.hash))}::text[], ${pgArray(newCreds.map((c) => c.revoked))}::bool[]) as s(user_id, label, h, revoked)
      on conflict (secret_hash) do nothing
      returning id`;
    tokensInserted = ins.length;
    await checkOwners(tx, newCreds.map((c) => c.user), newCreds.map((c) => c.hash), "device", "a device token");
    const rows = await tx`select id, secret_hash from credentials where secret_hash = any(${pgArray(newCreds.map((c) => c.hash))}::text[])`;
    credIds = new Map(rows.map((r) => [r.secret_hash as string, r.id as string]));
  }
  const credOfDevice = new Map(newCreds.map((c) => [c.device, credIds.get(c.hash) ?? null]));
  // 2. Revocations (Django revoked the device, or rotated its token).
  let tokensRevoked = 0;
  if (revokeCreds.length) {
    const rev = await tx`
      update credentials t set revoked_at = coalesce(t.revoked_at, now()), updated_at = now()
      from (select id, revoked_at is null as live from credentials where id = any(${pgArray(revokeCreds)}::text[])) o
      where t.id = o.id returning o.live`;
    tokensRevoked = rev.filter((r) => r.live).length;
  }
  // 3. New devices: their Django id as number when it is free. The sequence is moved past every
  //    Django id first, so a number drawn from it never collides with one taken below.
  let renumbered = 0;
  if (inserts.length) {
    const maxId = Math.max(...inserts.map((d) => d.id));
    await tx`select setval('devices_number_seq', greatest(${maxId}::int8, (select last_value from devices_number_seq)))`;
    const ins = await tx`
      insert into devices (openway_id, number, user_id, credential_id, name, android_device_id, created_at, revoked_at, token_preview)
      select s.oid, case when exists (select 1 from devices d where d.number = s.oid) then nextval('devices_number_seq') else s.oid end,
             s.user_id, s.credential_id, s.name, s.android, coalesce(s.created_at, now()), case when s.revoked then now() end, s.preview
      from unnest(${pgArray(inserts.map((d) => d.id))}::int8[], ${pgArray(inserts.map((d) => users.get(d.user_id)))}::text[],
                  ${pgArray(inserts.map((d) => credOfDevice.get(d.id) ?? null))}::text[],
                  ${pgArray(inserts.map((d) => (d.name ?? "").trim().slice(0, 150) || DEVICE_NAME))}::text[],
                  ${pgArray(inserts.map((d) => d.android_device_id))}::text[],
                  ${pgArray(inserts.map((d) => (d.created_at ? d.created_at.toISOString() : null)))}::timestamptz[],
                  ${pgArray(inserts.map((d) => !d.is_active))}::bool[],
                  ${pgArray(inserts.map((d) => (d.auth_token ? tokenPreview(d.auth_token) : null)))}::text[])
        as s(oid, user_id, credential_id, name, android, created_at, revoked, preview)
      returning number, openway_id`;
    renumbered = ins.filter((d) => Number(d.number) !== Number(d.openway_id)).length;
  }
  // 4. Existing devices: name, android id, revocation, a token Django rotated.
  let updated = 0;
  if (updates.length) {
    const upd = await tx`
      update devices t set name = s.name, android_device_id = s.android,
             revoked_at = case when s.revoke then coalesce(t.revoked_at, now()) else t.revoked_at end,
             credential_id = coalesce(s.credential_id, t.credential_id),
             token_preview = coalesce(s.preview, t.token_preview)
      from unnest(${pgArray(updates.map((u) => u.id))}::text[], ${pgArray(updates.map((u) => u.name))}::text[],
                  ${pgArray(updates.map((u) => u.android))}::text[], ${pgArray(updates.map((u) => u.revoke))}::bool[],
                  ${pgArray(updates.map((u) => u.preview))}::text[],
                  ${pgArray(updates.map((u) => (u.cred === null ? null : credOfDevice.get(u.cred) ?? null)))}::text[])
        as s(id, name, android, revoke, preview, credential_id)
      where t.id = s.id and (t.name <> s.name or t.android_device_id is distinct from s.android or (s.revoke and t.revoked_at is null)
            or (s.credential_id is not null and t.credential_id is distinct from s.credential_id))
      returning t.id`;
    updated = upd.length;
  }
  return {
    tally: tally(data.devices.length, inserts.length, updated),
    tokens: tally(data.devices.filter((d) => d.auth_token).length, tokensInserted, 0, tokensRevoked),
    renumbered,
  };
}

// ---------------------------------------------------------------------------------------------
// Events

const REASON_SQL = `case s.reason when 'OK' then 'granted' when 'UNKNOWN_GATE' then 'unknown_gate'
  when 'TOKEN_INVALID' then 'unknown_token' when 'DEVICE_NOT_FOUND' then 'unknown_token'
  when 'DEVICE_INACTIVE' then 'revoked_token' when 'NO_PERMISSION' then 'no_grant'
  when 'RATE_LIMIT' then 'rate_limited' when 'INVALID_REQUEST' then 'invalid_request'
  else lower(coalesce(nullif(s.reason, ''), 'unknown')) end`;

async function copyEvents(s: postgres.TransactionSql, tx: Tx, retentionDays: number, batch: number): Promise<{ tally: Tally; skipped: number }> {
  const [range] = await s`
    select count(*) filter (where created_at >= now() - make_interval(days => ${retentionDays}))::int8 as keep,
           count(*) filter (where created_at < now() - make_interval(days => ${retentionDays}))::int8 as skip,
           min(created_at) filter (where created_at >= now() - make_interval(days => ${retentionDays})) as oldest
    from access_accessevent`;
  const total = Number(range!.keep);
  if (total === 0) return { tally: tally(0), skipped: Number(range!.skip) };
  // Daily partitions back to the oldest copied event, so retention drops them like any other.
  const daysBack = Math.ceil((Date.now() - (range!.oldest as Date).getTime()) / 86_400_000) + 1;
  await tx`select pcl_ensure_event_partitions(${Math.min(daysBack, retentionDays + 1)}, 7)`;
  let inserted = 0;
  let lastId = -1;
  for (;;) {
    const rows = await s`
      select e.id::int8 as id, e.created_at, e.decision, e.reason, e.device_id::int8 as device_id, e.user_id::int8 as user_id,
             coalesce(ap.code, e.raw->>'gate_id', '') as gate
      from access_accessevent e left join access_accesspoint ap on ap.id = e.access_point_id
      where e.id > ${lastId} and e.created_at >= now() - make_interval(days => ${retentionDays})
      order by e.id limit ${batch}`;
    if (!rows.length) break;
    lastId = Number(rows[rows.length - 1]!.id);
    const ins = await tx.unsafe(`
      insert into access_events (id, at, gate_id, user_id, credential_id, allow, reason, revision)
      select md5('openway-event:' || s.oid)::uuid, s.at, left(coalesce(nullif(s.gate, ''), '(unknown)'), 200),
             u.id, d.credential_id, s.decision = 'ALLOW', ${REASON_SQL}, 0
      from unnest($1::int8[], $2::timestamptz[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::text[])
        as s(oid, at, decision, reason, device_oid, user_oid, gate)
      left join users u on u.openway_id = s.user_oid
      left join devices d on d.openway_id = s.device_oid
      on conflict do nothing`,
      [pgArray(rows.map((r) => r.id)), pgArray(rows.map((r) => (r.created_at as Date).toISOString())), pgArray(rows.map((r) => r.decision)),
        pgArray(rows.map((r) => r.reason)), pgArray(rows.map((r) => r.device_id)), pgArray(rows.map((r) => r.user_id)), pgArray(rows.map((r) => r.gate))]);
    inserted += ins.count;
    if (rows.length < batch) break;
  }
  return { tally: tally(total, inserted), skipped: Number(range!.skip) };
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

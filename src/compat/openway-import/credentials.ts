// authtoken_token → session credentials, devices_device → devices with a device credential each.
// Secrets are stored as their SHA-256 only, so the same keys keep verifying and authenticating.
import { foreignCredentials, pgArray } from "../../admin/import-sql";
import type { Tx } from "../../admin/tx";
import { clip } from "../../unicode";
import { hashSecret } from "../../tokens";
import { DEVICE_NAME, tokenPreview } from "../devices";
import { OpenwayImportError, type Source } from "./source";
import { counted, tally, type Tally } from "./tally";

// Not admin's upsertCredentials: an imported token is only added or revoked, never updated, and
// revocations are sticky (a re-import never un-revokes a device or a token).

/** DRF tokens → session credentials (hash only); imported ones Django no longer has are revoked. */
export async function syncTokens(tx: Tx, data: Source, users: Map<number, string>): Promise<Tally> {
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
  const bad = await foreignCredentials(tx, hashes, owners, "id", hashes.map(() => kind));
  if (bad) throw new OpenwayImportError(`${bad.n} × ${what} whose secret already belongs to another user's credential (or to one of another kind) here`);
}

export interface DeviceSync {
  tally: Tally;
  tokens: Tally;
  renumbered: number;
}

export async function syncDevices(tx: Tx, data: Source, users: Map<number, string>): Promise<DeviceSync> {
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
    const name = clip((d.name ?? "").trim(), 150) || DEVICE_NAME;
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
                  ${pgArray(inserts.map((d) => clip((d.name ?? "").trim(), 150) || DEVICE_NAME))}::text[],
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

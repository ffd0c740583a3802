// The original service's device endpoints over Portcullis devices: an integer id (devices.number),
// an android_device_id, active = not revoked, and one device credential whose token is derived
// (token-key.ts), so `register` with rotate=false can answer the same token again.
import type { Sql } from "../db/client";
import { type Tx, write, type Written } from "../admin/tx";
import { mapDbError } from "../db/errors";
import { hashSecret } from "../tokens";
import type { CompatCaller } from "./auth";
import { detail } from "./drf";
import type { TokenKey } from "./token-key";

export const DEVICE_NAME = "Mobile device";

/** "abcd…wxyz", as the original showed a token. */
export const tokenPreview = (token: string) => (token ? token.slice(0, 4) + "…" + token.slice(-4) : "");

export interface Registered {
  device_id: number;
  token: string;
  android_device_id: string;
  qr_payload: string;
}

/**
 * The caller's newest active device (or a new one): a non-null androidId replaces the stored one;
 * rotate issues a new token (the old credential is revoked), otherwise the current token is
 * answered again — or a new one when there is none, or when the current one cannot be derived
 * (a token imported from Django: only its hash is here).
 */
export async function registerDevice(sql: Sql, key: TokenKey, caller: CompatCaller, rotate: boolean, androidId: string | null | undefined): Promise<Written<Registered>> {
  return write(sql, caller, async (tx, audit) => {
    let [d] = await tx`
      select id, number, credential_id, android_device_id from devices
      where user_id = ${caller.userId} and revoked_at is null
      order by created_at desc, number desc limit 1 for update`;
    const created = !d;
    if (!d) {
      [d] = await tx`insert into devices (user_id, name, android_device_id)
                     values (${caller.userId}, ${DEVICE_NAME}, ${androidId ?? null})
                     returning id, number, credential_id, android_device_id`;
    } else if (androidId !== null && androidId !== undefined && androidId !== d.android_device_id) {
      await tx`update devices set android_device_id = ${androidId} where id = ${d.id}`;
      d.android_device_id = androidId;
    }
    let token = rotate ? null : await currentToken(tx, key, d!.credential_id);
    const rotated = token === null;
    if (token === null) {
      if (d!.credential_id) {
        await tx`update credentials set revoked_at = now(), updated_at = now() where id = ${d!.credential_id} and revoked_at is null`;
      }
      const id = (await tx<{ id: string }[]>`select pcl_id('c_') as id`)[0]!.id;
      token = key.deviceToken(id);
      await tx`insert into credentials (id, user_id, kind, label, scopes, secret_hash)
               values (${id}, ${caller.userId}, 'device', ${DEVICE_NAME}, ${[]}, ${hashSecret(token)})`;
      await tx`update devices set credential_id = ${id}, token_preview = ${tokenPreview(token)} where id = ${d!.id}`;
      d!.credential_id = id;
    }
    audit({
      action: "register_device", entity: "device", entityId: d!.id, before: null,
      after: { id: d!.id, number: d!.number, created, rotated, android_device_id: d!.android_device_id, credential_id: d!.credential_id, via: "openway" },
    });
    return { device_id: Number(d!.number), token, android_device_id: d!.android_device_id ?? "", qr_payload: token };
  });
}

/** The device credential's token when it is live and derivable from the key; else null. */
async function currentToken(tx: Tx, key: TokenKey, credentialId: string | null): Promise<string | null> {
  if (!credentialId) return null;
  const [c] = await tx`select secret_hash from credentials where id = ${credentialId} and revoked_at is null
                       and (expires_at is null or expires_at > now())`;
  if (!c) return null;
  const token = key.deviceToken(credentialId);
  return hashSecret(token) === c.secret_hash ? token : null;
}

export interface DeviceItem {
  id: number;
  android_device_id: string;
  is_active: boolean;
  token_preview: string;
}

/** All the user's devices, newest first, active or not. */
export async function listDevices(sql: Sql, userId: string): Promise<DeviceItem[]> {
  try {
    const rows = await sql`select number, android_device_id, revoked_at, token_preview from devices
                           where user_id = ${userId} order by created_at desc, number desc limit 10000`;
    return rows.map((r) => ({
      id: Number(r.number), android_device_id: r.android_device_id ?? "", is_active: r.revoked_at === null, token_preview: r.token_preview ?? "",
    }));
  } catch (e) {
    throw mapDbError(e);
  }
}

/** Revokes one of the caller's devices (by integer id, else the newest with that android id) and its credential. */
export async function revokeDevice(sql: Sql, caller: CompatCaller, by: { deviceId?: number; androidId?: string }): Promise<Written<{ device_id: number; is_active: false }>> {
  const w = await write(sql, caller, async (tx, audit) => {
    const [d] = by.deviceId
      ? await tx`select id, number, credential_id, revoked_at from devices where number = ${by.deviceId} and user_id = ${caller.userId} for update`
      : await tx`select id, number, credential_id, revoked_at from devices where user_id = ${caller.userId} and android_device_id = ${by.androidId!}
                 order by created_at desc, number desc limit 1 for update`;
    if (!d) throw detail(404, "Device not found");
    if (d.revoked_at === null) {
      await tx`update devices set revoked_at = now() where id = ${d.id}`;
      // Touched even when it was revoked already, so the index reloads it and learns that its
      // device is revoked (DEVICE_INACTIVE rather than TOKEN_INVALID).
      if (d.credential_id) await tx`update credentials set revoked_at = coalesce(revoked_at, now()), updated_at = now() where id = ${d.credential_id}`;
    } else if (d.credential_id) {
      await tx`update credentials set revoked_at = now(), updated_at = now() where id = ${d.credential_id} and revoked_at is null`;
    }
    if (d.revoked_at === null) audit({ action: "revoke_device", entity: "device", entityId: d.id, before: { id: d.id, active: true }, after: { id: d.id, active: false, via: "openway" } });
    return Number(d.number);
  });
  return { value: { device_id: w.value, is_active: false }, revision: w.revision };
}

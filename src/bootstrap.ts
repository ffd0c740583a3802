// ADMIN_BOOTSTRAP_TOKEN: afterwards a credential with that secret and the admin scope exists.
import type { Sql } from "./db/client";
import { write } from "./admin/tx";
import { hashSecret } from "./tokens";

export const BOOTSTRAP_USERNAME = "bootstrap-admin";

export async function ensureBootstrapToken(sql: Sql, secret: string): Promise<void> {
  const hash = hashSecret(secret);
  const [exists] = await sql`select id from credentials where secret_hash = ${hash}`;
  if (exists) return; // idempotent; a revoked bootstrap credential stays revoked
  await write(sql, { credentialId: null }, async (tx, audit) => {
    await tx`insert into users (username, display_name) values (${BOOTSTRAP_USERNAME}, 'Bootstrap administrator')
             on conflict (username) do nothing`;
    const [user] = await tx`select id from users where username = ${BOOTSTRAP_USERNAME}`;
    const [cred] = await tx`insert into credentials (user_id, kind, label, scopes, secret_hash)
      values (${user!.id}, 'api', 'ADMIN_BOOTSTRAP_TOKEN', ${["admin"]}, ${hash})
      on conflict (secret_hash) do nothing returning id`;
    if (cred) audit({ action: "bootstrap", entity: "credential", entityId: cred.id, before: null, after: { id: cred.id, scopes: ["admin"] } });
  });
}

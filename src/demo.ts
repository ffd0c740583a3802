// Demo data for a first start on the embedded database: nested groups, zones, gates in every mode,
// a schedule, allow and deny grants, and a few credentials whose secrets are printed once.
import type { Sql } from "./db/client";
import { write } from "./admin/tx";
import { hashPin } from "./state/pin";
import { hashSecret, newSecret } from "./tokens";

/** Alice's PIN at the card + PIN reader (demo only: printed, like the demo secrets). */
export const DEMO_PIN = "2580";

export interface DemoTokens {
  admin: string;
  alice: string;
  bob: string;
  carol: string;
}

/** Loads the demo graph when the database has no users yet; answers the new secrets, or null. */
export async function loadDemoData(sql: Sql): Promise<DemoTokens | null> {
  const { n } = (await sql<{ n: number }[]>`select count(*)::int as n from (select 1 from users where username <> 'bootstrap-admin' limit 1) x`)[0]!;
  if (n > 0) return null;
  const tokens: DemoTokens = { admin: newSecret(), alice: newSecret(), bob: newSecret(), carol: newSecret() };
  await write(sql, { credentialId: null }, async (tx, audit) => {
    const [staff] = await tx`insert into groups (name) values ('staff') returning id`;
    const [eng] = await tx`insert into groups (name, parent_id) values ('engineering', ${staff!.id}) returning id`;
    const [contractors] = await tx`insert into groups (name) values ('contractors') returning id`;
    const [hq] = await tx`insert into zones (name) values ('hq') returning id`;
    const [lab] = await tx`insert into zones (name) values ('lab') returning id`;
    // Rules with memory: a vault inside the lab with hard anti-passback (reset after 12 h) and
    // room for 10, entered and left through its own readers; the lab's card + PIN reader.
    const [vault] = await tx`insert into zones (name, parent_id, anti_passback, anti_passback_reset_ms, max_occupancy)
      values ('vault', ${lab!.id}, 'hard', ${12 * 3_600_000}, 10) returning id`;
    await tx`insert into gates (id, name, zone_id, mode) values
      ('GATE_001', 'Main entrance', ${hq!.id}, 'normal'),
      ('GATE_002', 'Lab door', ${lab!.id}, 'normal'),
      ('GATE_003', 'Server room', ${lab!.id}, 'locked'),
      ('GATE_004', 'Old side door', ${hq!.id}, 'disabled'),
      ('GARAGE_1', 'Parking barrier', null, 'normal')`;
    await tx`insert into gates (id, name, zone_id, direction, requires_pin) values
      ('VAULT_IN', 'Vault entry', ${vault!.id}, 'in', false),
      ('VAULT_OUT', 'Vault exit', ${vault!.id}, 'out', false),
      ('LAB_PIN', 'Lab card + PIN reader', ${lab!.id}, 'both', true)`;
    const [office] = await tx`insert into schedules (name, timezone, windows) values
      ('office hours', 'Europe/Berlin', ${tx.json([{ days: [1, 2, 3, 4, 5], start: "07:00", end: "19:00" }])}) returning id`;
    const [admin] = await tx`insert into users (username, display_name) values ('admin', 'Demo administrator') returning id`;
    const [alice] = await tx`insert into users (username, display_name, email) values ('alice', 'Alice Engineer', 'alice@example.com') returning id`;
    const [bob] = await tx`insert into users (username, display_name) values ('bob', 'Bob Contractor') returning id`;
    const [carol] = await tx`insert into users (username, display_name, active) values ('carol', 'Carol (left)', false) returning id`;
    await tx`insert into memberships (group_id, user_id) values
      (${eng!.id}, ${alice!.id}), (${contractors!.id}, ${bob!.id}), (${staff!.id}, ${carol!.id})`;
    await tx`insert into grants (subject_group_id, target_zone_id, effect) values (${staff!.id}, ${hq!.id}, 'allow')`;
    await tx`insert into grants (subject_group_id, target_zone_id, effect) values (${eng!.id}, ${lab!.id}, 'allow')`;
    await tx`insert into grants (subject_group_id, target_gate_id, effect, schedule_id)
             values (${contractors!.id}, 'GATE_001', 'allow', ${office!.id})`;
    await tx`insert into grants (subject_group_id, target_zone_id, effect) values (${contractors!.id}, ${lab!.id}, 'deny')`;
    await tx`insert into grants (subject_user_id, target_gate_id, effect) values (${alice!.id}, 'GARAGE_1', 'allow')`;
    await tx`insert into grants (subject_group_id, target_zone_id, effect) values (${eng!.id}, ${vault!.id}, 'allow')`;
    await tx`insert into credentials (user_id, kind, label, scopes, secret_hash) values
      (${admin!.id}, 'api', 'demo admin token', ${["admin", "user"]}, ${hashSecret(tokens.admin)}),
      (${alice!.id}, 'card', 'Alice badge', ${[]}, ${hashSecret(tokens.alice)}),
      (${bob!.id}, 'card', 'Bob badge', ${[]}, ${hashSecret(tokens.bob)}),
      (${carol!.id}, 'card', 'Carol badge', ${[]}, ${hashSecret(tokens.carol)})`;
    await tx`update credentials set pin_hash = ${hashPin(DEMO_PIN)} where secret_hash = ${hashSecret(tokens.alice)}`;
    audit({ action: "demo_data", entity: "import", entityId: null, before: null, after: { users: 4, gates: 8 } });
  });
  return tokens;
}

export function printDemoTokens(t: DemoTokens, port: number): void {
  const url = `http://127.0.0.1:${port}`;
  console.log(`
Demo data loaded. These secrets are shown once (only their hashes are stored):
  admin token (admin + user scopes): ${t.admin}
  alice's card (engineering ⊂ staff; PIN ${DEMO_PIN} at LAB_PIN): ${t.alice}
  bob's card (contractors; office hours at GATE_001, denied in the lab): ${t.bob}
  carol's card (inactive user): ${t.carol}

Try a verify:
  curl -s ${url}/api/v1/access/verify -H 'content-type: application/json' \\
    -d '{"gate_id":"GATE_001","token":"${t.alice}"}'
The vault (VAULT_IN / VAULT_OUT) has anti-passback: a second entry without an exit is refused.
  curl -s ${url}/api/v1/access/verify -H 'content-type: application/json' \\
    -d '{"gate_id":"VAULT_IN","token":"${t.alice}"}'
The lab's card + PIN reader:
  curl -s ${url}/api/v1/access/verify -H 'content-type: application/json' \\
    -d '{"gate_id":"LAB_PIN","token":"${t.alice}","pin":"${DEMO_PIN}"}'
List gates as the admin:
  curl -s ${url}/api/v1/admin/gates -H 'authorization: Bearer ${t.admin}'
`);
}

// Each rule with memory, across two instances on one database sharing the real Redis (a key
// prefix of this run's own): enter through one instance, leave through the other.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { sleepUntil } from "../setup";
import { gate, REDIS_URL, type Site, startSite, zone } from "./helpers";

// Each test makes its site through the admin API: seconds on a busy machine.
setDefaultTimeout(20_000);

let site: Site;
beforeAll(async () => {
  site = await startSite();
}, 30_000);
afterAll(() => site.stop());

describe("rules with memory across two instances", () => {
  test("presence and hard anti-passback: enter on A, a second entry on B is refused, exit on B, enter again on A", async () => {
    const z = await zone(site, "vault-apb", { anti_passback: "hard" });
    await gate(site, "APB_IN", z, { direction: "in" });
    await gate(site, "APB_OUT", z, { direction: "out" });
    const ann = await site.person("ann");
    expect(await site.verify(site.a, "APB_IN", ann)).toMatchObject({ allow: true, reason: "granted" });
    expect(await site.verify(site.b, "APB_IN", ann)).toMatchObject({ allow: false, reason: "anti_passback", user_id: ann.id });
    expect(await site.verify(site.b, "APB_OUT", ann)).toMatchObject({ allow: true, reason: "granted" });
    // An exit while out is a passback too.
    expect(await site.verify(site.a, "APB_OUT", ann)).toMatchObject({ allow: false, reason: "anti_passback" });
    expect(await site.verify(site.a, "APB_IN", ann)).toMatchObject({ allow: true });
    const ev = await site.events("APB_IN", 3);
    expect(ev.map((e) => [e.reason, e.direction, e.zone_id])).toEqual([["granted", "in", z], ["anti_passback", null, z], ["granted", "in", z]]);
  });

  test("soft anti-passback passes and flags the event; forgive clears one user's state", async () => {
    const z = await zone(site, "lobby-soft", { anti_passback: "soft" });
    const hard = await zone(site, "lab-hard", { anti_passback: "hard" });
    await gate(site, "SOFT_IN", z, { direction: "in" });
    await gate(site, "HARD_IN", hard, { direction: "in" });
    const bo = await site.person("bo");
    await site.verify(site.a, "SOFT_IN", bo);
    expect(await site.verify(site.b, "SOFT_IN", bo)).toMatchObject({ allow: true, reason: "granted", flags: ["anti_passback_soft"] });
    const ev = await site.events("SOFT_IN", 2);
    expect(ev[1].flags).toEqual(["anti_passback_soft"]);

    await site.verify(site.a, "HARD_IN", bo);
    expect((await site.verify(site.b, "HARD_IN", bo)).reason).toBe("anti_passback");
    const f = await site.admin("POST", `/api/v1/admin/zones/${hard}/presence/${bo.id}/forgive`);
    expect(f).toMatchObject({ zone_id: hard, user_id: bo.id });
    expect((await site.verify(site.b, "HARD_IN", bo)).reason).toBe("granted");
    const [audit] = await site.cluster.db.sql`select action, entity_id, after from audit_log where action = 'forgive_presence'`;
    expect(audit).toMatchObject({ entity_id: hard, after: { zone_id: hard, user_id: bo.id } });
  });

  test("anti_passback_reset: a presence older than the reset no longer refuses the next entry", async () => {
    const z = await zone(site, "reset-zone", { anti_passback: "hard", anti_passback_reset: "1s" });
    await gate(site, "RESET_IN", z, { direction: "in" });
    const gil = await site.person("gil");
    const t0 = Date.now();
    expect((await site.verify(site.a, "RESET_IN", gil)).reason).toBe("granted");
    expect((await site.verify(site.b, "RESET_IN", gil)).reason).toBe("anti_passback");
    await sleepUntil(async () => (await site.verify(site.b, "RESET_IN", gil)).reason === "granted", "the reset to pass", 5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    // The new entry restarts the clock.
    expect((await site.verify(site.a, "RESET_IN", gil)).reason).toBe("anti_passback");
  });

  test("occupancy: zone_full at the maximum, exits always pass; enclosing zones count too; muster and live counts", async () => {
    const building = await zone(site, "building", {});
    const room = await zone(site, "room", { max_occupancy: 2, parent_id: building });
    await gate(site, "ROOM_IN", room, { direction: "in" });
    await gate(site, "ROOM_OUT", room, { direction: "out" });
    await gate(site, "BLDG_OUT", building, { direction: "out" });
    const [p1, p2, p3] = [await site.person("occ1"), await site.person("occ2"), await site.person("occ3")];
    expect((await site.verify(site.a, "ROOM_IN", p1)).allow).toBe(true);
    expect((await site.verify(site.b, "ROOM_IN", p2)).allow).toBe(true);
    expect(await site.verify(site.a, "ROOM_IN", p3)).toMatchObject({ allow: false, reason: "zone_full" });

    const m = await site.admin("GET", `/api/v1/admin/zones/${room}/presence`);
    expect(m).toMatchObject({ zone_id: room, name: "room", count: 2, max_occupancy: 2 });
    expect(m.items.map((i: any) => [i.username, i.gate_id])).toEqual([["occ1", "ROOM_IN"], ["occ2", "ROOM_IN"]]);
    expect(Date.parse(m.items[0].since)).toBeLessThanOrEqual(Date.parse(m.items[1].since));
    // Entering the room entered the building around it.
    expect((await site.admin("GET", `/api/v1/admin/zones/${building}/presence`)).count).toBe(2);

    expect((await site.verify(site.b, "ROOM_OUT", p1)).allow).toBe(true);
    expect((await site.verify(site.a, "ROOM_IN", p3)).allow).toBe(true);
    // Leaving the building leaves the room inside it.
    expect((await site.verify(site.a, "BLDG_OUT", p2)).allow).toBe(true);
    const occ = await site.admin("GET", "/api/v1/admin/occupancy");
    const count = (id: string) => occ.items.find((i: any) => i.zone_id === id).count;
    expect([count(room), count(building)]).toEqual([1, 2]);
    expect(occ.store).toBe("redis");
  });

  test("two-person: the first answers awaiting_second, a different second user opens; the events name each other", async () => {
    const z = await zone(site, "vault-2p", {});
    await gate(site, "VAULT_2P", z, { direction: "in", two_person_window_ms: 5000 });
    const [c1, c2] = [await site.person("tp1"), await site.person("tp2")];
    expect(await site.verify(site.a, "VAULT_2P", c1)).toMatchObject({ allow: false, reason: "awaiting_second" });
    // The same person again is still one person.
    expect(await site.verify(site.b, "VAULT_2P", c1)).toMatchObject({ allow: false, reason: "awaiting_second" });
    expect(await site.verify(site.b, "VAULT_2P", c2)).toMatchObject({ allow: true, reason: "granted", peer_user_id: c1.id });
    // A new pair starts from scratch.
    expect((await site.verify(site.a, "VAULT_2P", c2)).reason).toBe("awaiting_second");
    const ev = await site.events("VAULT_2P", 4);
    const second = ev[2];
    expect(second).toMatchObject({ user_id: c2.id, reason: "granted", peer_user_id: c1.id, peer_event_id: ev[1].id });
    // The first of the pair is named by its peer once both are written.
    const first = await import("../setup").then(({ sleepUntil }) => sleepUntil(async () => {
      const [r] = await site.cluster.db.sql`select * from access_events where id = ${ev[1].id}`;
      return r?.peer_event_id ? r : null;
    }, "the first event to name its peer"));
    expect(first).toMatchObject({ user_id: c1.id, reason: "awaiting_second", peer_event_id: second.id, peer_user_id: c2.id });
    // Both entered.
    const m = await site.admin("GET", `/api/v1/admin/zones/${z}/presence`);
    expect(m.items.map((i: any) => i.user_id).sort()).toEqual([c1.id, c2.id].sort());
  });

  test("first person in: awaiting_supervisor during the schedule until a supervisor entered that local day", async () => {
    const sup = await site.admin("POST", "/api/v1/admin/groups", { name: "lab-supervisors" });
    const always = await site.admin("POST", "/api/v1/admin/schedules", {
      name: "always", timezone: "Pacific/Auckland", windows: [{ days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "24:00" }],
    });
    const z = await zone(site, "lab-fi", { supervisor_group_id: sup.id, supervisor_schedule_id: always.id });
    await gate(site, "LAB_FI", z, {});
    const [worker, boss] = [await site.person("fi-worker"), await site.person("fi-boss")];
    await site.admin("POST", `/api/v1/admin/groups/${sup.id}/members`, { user_id: boss.id });
    expect(await site.verify(site.a, "LAB_FI", worker)).toMatchObject({ allow: false, reason: "awaiting_supervisor" });
    expect(await site.verify(site.b, "LAB_FI", boss)).toMatchObject({ allow: true, flags: ["supervisor_in"] });
    expect(await site.verify(site.a, "LAB_FI", worker)).toMatchObject({ allow: true, reason: "granted" });
  });

  test("visitors: escort_required unless the host passed the same gate within the window", async () => {
    const z = await zone(site, "office-esc", {});
    await gate(site, "ESC_DOOR", z, { requires_escort: true, escort_window_s: 30 });
    await gate(site, "ESC_OTHER", z, { requires_escort: true, escort_window_s: 30 });
    const host = await site.person("host");
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const visitor = await site.person("visitor", { host_user_id: host.id, expires_at: until });
    expect(await site.verify(site.a, "ESC_DOOR", visitor)).toMatchObject({ allow: false, reason: "escort_required" });
    expect((await site.verify(site.b, "ESC_DOOR", host)).allow).toBe(true);
    expect(await site.verify(site.a, "ESC_DOOR", visitor)).toMatchObject({ allow: true, reason: "granted" });
    // The host's pass counts at that gate only.
    expect((await site.verify(site.a, "ESC_OTHER", visitor)).reason).toBe("escort_required");
    // A visitor credential needs a validity window, and cannot host itself.
    const noWindow = await site.a.call("POST", "/api/v1/admin/credentials", { body: { user_id: visitor.id, kind: "card", host_user_id: host.id } });
    expect(noWindow.status).toBe(400);
    expect(noWindow.body.error.details.field).toBe("expires_at");
  });

  test("card + PIN: pin_required, wrong_pin, pin_locked after the limit, the right PIN opens; PINs stored hashed", async () => {
    const z = await zone(site, "server-room", {});
    await gate(site, "PIN_DOOR", z, { requires_pin: true });
    const dee = await site.person("dee", { pin: "4711" });
    const eve = await site.person("eve", { pin: "1234" });
    expect(await site.verify(site.a, "PIN_DOOR", dee)).toMatchObject({ allow: false, reason: "pin_required" });
    expect(await site.verify(site.a, "PIN_DOOR", dee, "0000")).toMatchObject({ allow: false, reason: "wrong_pin" });
    expect(await site.verify(site.b, "PIN_DOOR", dee, "4711")).toMatchObject({ allow: true, reason: "granted" });
    // RATE_LIMIT_PIN (5 per 15 min) wrong PINs lock the credential out, across instances; the right PIN too.
    for (let i = 0; i < 5; i++) expect((await site.verify(i % 2 ? site.a : site.b, "PIN_DOOR", eve, "9999")).reason).toBe("wrong_pin");
    expect((await site.verify(site.a, "PIN_DOOR", eve, "1234")).reason).toBe("pin_locked");
    // Another credential is not affected.
    expect((await site.verify(site.a, "PIN_DOOR", dee, "4711")).reason).toBe("granted");
    const [row] = await site.cluster.db.sql`select pin_hash from credentials where id = ${dee.cardId}`;
    expect(row!.pin_hash).toMatch(/^hs256\$[0-9a-f]{32}\$[0-9a-f]{64}$/);
    expect(row!.pin_hash).not.toContain("4711");
    const c = await site.admin("GET", `/api/v1/admin/credentials/${dee.cardId}`);
    expect(c.has_pin).toBe(true);
    expect(JSON.stringify(c)).not.toContain("hs256");
    const bad = await site.a.call("POST", "/api/v1/access/verify", { token: null, body: { gate_id: "PIN_DOOR", token: dee.card, pin: "12a4" } });
    expect(bad.status).toBe(400);
    // An instance started now loads the PIN with its snapshot (not through the change feed).
    const late = await site.cluster.add({ REDIS_URL, STATE_PREFIX: site.prefix });
    expect((await site.verify(late, "PIN_DOOR", dee, "4711")).reason).toBe("granted");
    expect((await site.verify(late, "PIN_DOOR", dee, "4712")).reason).toBe("wrong_pin");
  });

  test("plain gates never touch the state; explain shows the stateful part", async () => {
    const z = await zone(site, "plain-zone", { anti_passback: "hard" });
    await gate(site, "PLAIN_BOTH", z, {}); // direction both: no presence, no rule
    const fay = await site.person("fay");
    for (let i = 0; i < 3; i++) expect((await site.verify(site.a, "PLAIN_BOTH", fay)).allow).toBe(true);
    const ev = await site.events("PLAIN_BOTH", 3);
    expect(ev.every((e) => e.zone_id === null && e.flags === null)).toBe(true);

    await gate(site, "EXPL_IN", z, { direction: "in" });
    await site.verify(site.a, "EXPL_IN", fay);
    const x = await site.admin("POST", "/api/v1/admin/explain", { gate_id: "EXPL_IN", token: fay.card });
    expect(x).toMatchObject({
      allow: false, reason: "anti_passback",
      stateful: { rules: { zone_id: z, direction: "in", anti_passback: "hard", state_failure: "closed" }, store: "redis", outcome: "anti_passback", inside: { gate_id: "EXPL_IN" } },
    });
  });
});

describe("admin fields of the rules with memory", () => {
  const post = (path: string, body: unknown) => site.a.call("POST", path, { body });
  const patch = (path: string, body: unknown) => site.a.call("PATCH", path, { body });

  test("zones: enclosing zones cannot form a cycle; first-in needs group and schedule; resets are durations", async () => {
    const outer = (await post("/api/v1/admin/zones", { name: "v-outer" })).body.id;
    const inner = (await post("/api/v1/admin/zones", { name: "v-inner", parent_id: outer })).body.id;
    const cycle = await patch(`/api/v1/admin/zones/${outer}`, { parent_id: inner });
    expect(cycle.status).toBe(400);
    expect(cycle.body.error.details.field).toBe("parent_id");
    expect((await patch(`/api/v1/admin/zones/${outer}`, { parent_id: outer })).status).toBe(400);
    const g = (await post("/api/v1/admin/groups", { name: "v-sup" })).body.id;
    const half = await patch(`/api/v1/admin/zones/${inner}`, { supervisor_group_id: g });
    expect(half.status).toBe(400);
    expect(half.body.error.details.field).toBe("supervisor_schedule_id");
    for (const bad of ["12", "12 h", "0s", "400d", "-1h"]) {
      const r = await patch(`/api/v1/admin/zones/${inner}`, { anti_passback_reset: bad });
      expect([r.status, r.body.error.details.field]).toEqual([400, "anti_passback_reset"]);
    }
    const ok = await patch(`/api/v1/admin/zones/${inner}`, { anti_passback: "hard", anti_passback_reset: "90m", max_occupancy: 12 });
    expect(ok.body).toMatchObject({ anti_passback: "hard", anti_passback_reset: "90m", max_occupancy: 12, state_failure: "closed", parent_id: outer });
    expect((await patch(`/api/v1/admin/zones/${inner}`, { anti_passback: "sometimes" })).status).toBe(400);
    expect((await patch(`/api/v1/admin/zones/${inner}`, { max_occupancy: 0 })).status).toBe(400);
    // A supervisor group in use cannot be deleted from under its zone.
    const s = (await post("/api/v1/admin/schedules", { name: "v-sched", timezone: "UTC", windows: [] })).body.id;
    expect((await patch(`/api/v1/admin/zones/${inner}`, { supervisor_group_id: g, supervisor_schedule_id: s })).status).toBe(200);
    expect((await site.a.call("DELETE", `/api/v1/admin/groups/${g}`)).status).toBe(409);
    const [audit] = await site.cluster.db.sql`select after from audit_log where entity = 'zone' and entity_id = ${inner} and action = 'update' order by id desc limit 1`;
    expect(audit!.after).toMatchObject({ supervisor_group_id: g, supervisor_schedule_id: s });
  });

  test("gates and credentials: directions, windows and PINs are validated; a PIN is never answered or audited", async () => {
    const z = (await post("/api/v1/admin/zones", { name: "v-zone" })).body.id;
    expect((await post("/api/v1/admin/gates", { id: "V_G", name: "v", zone_id: z, direction: "sideways" })).status).toBe(400);
    expect((await post("/api/v1/admin/gates", { id: "V_G", name: "v", zone_id: z, two_person_window_ms: 10 })).status).toBe(400);
    const g = await post("/api/v1/admin/gates", { id: "V_G", name: "v", zone_id: z, direction: "out", two_person_window_ms: 3000, requires_pin: true });
    expect(g.body).toMatchObject({ direction: "out", two_person_window_ms: 3000, requires_pin: true, requires_escort: false, escort_window_s: 60 });
    const u = (await post("/api/v1/admin/users", { username: "v-user" })).body.id;
    for (const pin of ["123", "123456789", "12a4", " 1234"]) {
      expect((await post("/api/v1/admin/credentials", { user_id: u, kind: "card", pin })).status).toBe(400);
    }
    const c = await post("/api/v1/admin/credentials", { user_id: u, kind: "card", pin: "13579" });
    expect(c.body.has_pin).toBe(true);
    expect(JSON.stringify(c.body)).not.toContain("13579");
    const cleared = await patch(`/api/v1/admin/credentials/${c.body.id}`, { pin: null });
    expect(cleared.body.has_pin).toBe(false);
    const rows = await site.cluster.db.sql`select after::text as a, before::text as b from audit_log where entity_id = ${c.body.id}`;
    expect(rows.length).toBe(2);
    for (const r of rows) expect(`${r.a}${r.b}`).not.toMatch(/13579|hs256|pin_hash/);
    expect((await post("/api/v1/admin/credentials", { user_id: u, kind: "card", host_user_id: u, expires_at: new Date(Date.now() + 60_000).toISOString() })).status).toBe(400);
  });
});

describe("over real HTTP (the native verify route)", () => {
  test("pin reaches the decision, and flags and the peer are in the answer", async () => {
    const { startTestService } = await import("../setup");
    const s = await startTestService({}, { http: true });
    try {
      const ok = async (m: string, p: string, body?: unknown) => {
        const r = await s.call(m, p, body === undefined ? {} : { body });
        if (r.status >= 300) throw new Error(`${p}: ${JSON.stringify(r.body)}`);
        await s.service.deps.feed.waitFor(r.body.revision ?? 0, 5000);
        return r.body;
      };
      const z = (await ok("POST", "/api/v1/admin/zones", { name: "h-zone", anti_passback: "soft" })).id;
      await ok("POST", "/api/v1/admin/gates", { id: "H_PIN", name: "h", zone_id: z, requires_pin: true });
      await ok("POST", "/api/v1/admin/gates", { id: "H_IN", name: "h", zone_id: z, direction: "in", two_person_window_ms: 5000 });
      const users = [];
      for (const name of ["h1", "h2"]) {
        const u = (await ok("POST", "/api/v1/admin/users", { username: name })).id;
        await ok("POST", "/api/v1/admin/grants", { subject: { user_id: u }, target: { zone_id: z } });
        users.push({ id: u, card: (await ok("POST", "/api/v1/admin/credentials", { user_id: u, kind: "card", pin: "8642" })).secret });
      }
      await sleepUntil(() => s.service.deps.state.store.kind === "local", "the in-process state");
      const v = (body: unknown) => s.call("POST", "/api/v1/access/verify", { token: null, body });
      expect((await v({ gate_id: "H_PIN", token: users[0]!.card })).body.reason).toBe("pin_required");
      expect((await v({ gate_id: "H_PIN", token: users[0]!.card, pin: "8642" })).body).toMatchObject({ allow: true, reason: "granted" });
      expect((await v({ gate_id: "H_IN", token: users[0]!.card })).body.reason).toBe("awaiting_second");
      const pair = await v({ gate_id: "H_IN", token: users[1]!.card });
      expect(pair.body).toEqual({ allow: true, reason: "granted", gate_id: "H_IN", user_id: users[1]!.id, unlock_ms: 800, revision: pair.body.revision, peer_user_id: users[0]!.id });
      await v({ gate_id: "H_IN", token: users[0]!.card });
      expect((await v({ gate_id: "H_IN", token: users[1]!.card })).body).toMatchObject({ allow: true, flags: ["anti_passback_soft"], peer_user_id: users[0]!.id });
    } finally {
      await s.stop();
    }
  });
});

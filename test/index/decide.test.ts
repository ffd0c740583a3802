import { describe, expect, test } from "bun:test";
import { PermissionIndex } from "../../src/index/permission-index";
import { REASONS, type Reason } from "../../src/index/types";
import {
  HOUR, NOW, allow, build, changes, closedSchedule, cred, deny, gate, group, openSchedule, reason,
  schedule, user, zone,
} from "./helpers";

/** One user u1 with card c1, gate G1 (unlockMs 1234) in zone Z1, and a direct allow on G1. */
function basic(over: Parameters<typeof build>[0] = {}): PermissionIndex {
  return build({
    users: [user("u1")],
    zones: [zone("Z1")],
    gates: [gate("G1", { zoneId: "Z1", unlockMs: 1234 })],
    grants: [allow("gr1", { user: "u1", gate: "G1" })],
    credentials: [cred("c1", "u1")],
    ...over,
  });
}

describe("decide: each reason", () => {
  test("granted: allow with user, credential, kind and the gate's unlockMs", () => {
    const d = basic().decide("hash-c1", "G1", NOW);
    expect(d).toEqual({
      allow: true, reason: "granted", userId: "u1", credentialId: "c1", credentialKind: "card",
      deviceRevoked: false, unlockMs: 1234,
    });
  });

  test("granted: unlockMs follows each gate's own setting", () => {
    const ix = build({
      users: [user("u1")],
      gates: [gate("fast", { unlockMs: 0 }), gate("slow", { unlockMs: 600_000 })],
      grants: [allow("a", { user: "u1", gate: "fast" }), allow("b", { user: "u1", gate: "slow" })],
      credentials: [cred("c1", "u1")],
    });
    expect(ix.decide("hash-c1", "fast", NOW)).toMatchObject({ allow: true, unlockMs: 0 });
    expect(ix.decide("hash-c1", "slow", NOW)).toMatchObject({ allow: true, unlockMs: 600_000 });
  });

  test("unknown_token: no user, no credential, nothing else", () => {
    const d = basic().decide("no-such-hash", "G1", NOW);
    expect(d.allow).toBe(false);
    expect(d.reason).toBe("unknown_token");
    expect(d.userId).toBeUndefined();
    expect(d.credentialId).toBeUndefined();
    expect(d.credentialKind).toBeUndefined();
    expect(d.deviceRevoked).toBe(false);
    expect(d.unlockMs).toBe(0);
  });

  test("unknown_token also for an unknown token at an unknown gate", () => {
    expect(basic().decide("no-such-hash", "NOPE", NOW).reason).toBe("unknown_token");
  });

  test("expired_token from the instant expiresAt on, valid one millisecond before", () => {
    const ix = basic({ credentials: [cred("c1", "u1", { expiresAt: NOW })] });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ allow: false, reason: "expired_token", userId: "u1" });
    expect(ix.decide("hash-c1", "G1", NOW + HOUR).reason).toBe("expired_token");
    expect(ix.decide("hash-c1", "G1", NOW - 1).reason).toBe("granted");
  });

  test("revoked_token for a revoked credential, with the user id", () => {
    const ix = basic({ credentials: [cred("c1", "u1", { revoked: true })] });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({
      allow: false, reason: "revoked_token", userId: "u1", credentialId: "c1", unlockMs: 0,
    });
  });

  test("revoked_token for a device whose device was revoked carries deviceRevoked", () => {
    const ix = basic({ credentials: [cred("c1", "u1", { kind: "device", revoked: true, deviceRevoked: true })] });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({
      allow: false, reason: "revoked_token", credentialKind: "device", deviceRevoked: true,
    });
  });

  test("not_yet_valid before the credential's validFrom, valid from that instant on", () => {
    const ix = basic({ credentials: [cred("c1", "u1", { validFrom: NOW + 1 })] });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ allow: false, reason: "not_yet_valid", userId: "u1" });
    expect(ix.decide("hash-c1", "G1", NOW + 1).reason).toBe("granted");
  });

  test("inactive_user when the user's active flag is off", () => {
    const ix = basic({ users: [user("u1", { active: false })] });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ allow: false, reason: "inactive_user", userId: "u1" });
  });

  test("inactive_user before the user's validFrom and from validUntil on", () => {
    const ix = basic({ users: [user("u1", { validFrom: NOW - HOUR, validUntil: NOW + HOUR })] });
    expect(reason(ix, "c1", "G1", NOW - HOUR - 1)).toBe("inactive_user");
    expect(reason(ix, "c1", "G1", NOW - HOUR)).toBe("granted");
    expect(reason(ix, "c1", "G1", NOW + HOUR - 1)).toBe("granted");
    expect(reason(ix, "c1", "G1", NOW + HOUR)).toBe("inactive_user");
    expect(ix.decide("hash-c1", "G1", NOW + HOUR).userId).toBe("u1");
  });

  test("inactive_user when the credential's user does not exist", () => {
    const ix = basic({ users: [] });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ allow: false, reason: "inactive_user", userId: "u1" });
  });

  test("unknown_gate keeps the user id", () => {
    const d = basic().decide("hash-c1", "NOPE", NOW);
    expect(d).toMatchObject({ allow: false, reason: "unknown_gate", userId: "u1", credentialId: "c1", unlockMs: 0 });
  });

  test("gate_disabled keeps the user id, even with an allow grant", () => {
    const ix = basic({ gates: [gate("G1", { zoneId: "Z1", mode: "disabled" })] });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ allow: false, reason: "gate_disabled", userId: "u1" });
  });

  test("gate_locked denies everyone, even with an allow grant", () => {
    const ix = basic({ gates: [gate("G1", { zoneId: "Z1", mode: "locked" })] });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ allow: false, reason: "gate_locked", userId: "u1", unlockMs: 0 });
  });

  test("no_grant when the user has no grant for the gate", () => {
    const ix = basic({
      users: [user("u1"), user("u2")],
      gates: [gate("G1"), gate("G2")],
      grants: [allow("gr1", { user: "u1", gate: "G2" }), allow("gr2", { user: "u2", gate: "G1" })],
    });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ allow: false, reason: "no_grant", userId: "u1", unlockMs: 0 });
  });

  test("no_grant for a user without any grant at all", () => {
    expect(reason(basic({ grants: [] }), "c1", "G1")).toBe("no_grant");
  });

  test("denied when an explicit deny grant is in force", () => {
    const ix = basic({ grants: [deny("d1", { user: "u1", gate: "G1" })] });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ allow: false, reason: "denied", userId: "u1", unlockMs: 0 });
  });

  test("outside_schedule when an allow exists but its schedule is closed", () => {
    const ix = basic({
      schedules: [closedSchedule("s_closed")],
      grants: [allow("gr1", { user: "u1", gate: "G1", scheduleId: "s_closed" })],
    });
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ allow: false, reason: "outside_schedule", userId: "u1" });
  });

  test("checks run in order: credential, then user, then gate, then grants", () => {
    const ix = build({
      users: [user("u1", { active: false })],
      gates: [gate("G1", { mode: "locked" })],
      credentials: [
        cred("revoked", "u1", { revoked: true, expiresAt: NOW, validFrom: NOW + 1 }),
        cred("expired", "u1", { expiresAt: NOW, validFrom: NOW + 1 }),
        cred("future", "u1", { validFrom: NOW + 1 }),
        cred("fine", "u1"),
      ],
    });
    expect(reason(ix, "revoked", "G1")).toBe("revoked_token");
    expect(reason(ix, "expired", "G1")).toBe("expired_token");
    expect(reason(ix, "future", "G1")).toBe("not_yet_valid");
    expect(reason(ix, "fine", "G1")).toBe("inactive_user");
    expect(reason(ix, "fine", "NOPE")).toBe("inactive_user");
  });

  test("every reason in REASONS is produced by some input", () => {
    const ix = build({
      users: [user("u1"), user("off", { active: false })],
      zones: [zone("Z1")],
      gates: [
        gate("G_ok"), gate("G_off", { mode: "disabled" }), gate("G_lock", { mode: "locked" }),
        gate("G_none"), gate("G_deny"), gate("G_sched"), gate("G_fresh", { maxStalenessMs: 5000 }),
      ],
      schedules: [closedSchedule("closed")],
      grants: [
        allow("a1", { user: "u1", gate: "G_ok" }),
        deny("d1", { user: "u1", gate: "G_deny" }),
        allow("a2", { user: "u1", gate: "G_sched", scheduleId: "closed" }),
      ],
      credentials: [
        cred("c1", "u1"), cred("cexp", "u1", { expiresAt: NOW - 1 }), cred("crev", "u1", { revoked: true }),
        cred("cfut", "u1", { validFrom: NOW + 1 }), cred("coff", "off"),
      ],
    });
    const seen = new Set<Reason>([
      ix.decide("hash-c1", "G_ok", NOW).reason,
      ix.decide("nope", "G_ok", NOW).reason,
      ix.decide("hash-cexp", "G_ok", NOW).reason,
      ix.decide("hash-crev", "G_ok", NOW).reason,
      ix.decide("hash-cfut", "G_ok", NOW).reason,
      ix.decide("hash-coff", "G_ok", NOW).reason,
      ix.decide("hash-c1", "G_missing", NOW).reason,
      ix.decide("hash-c1", "G_off", NOW).reason,
      ix.decide("hash-c1", "G_lock", NOW).reason,
      ix.decide("hash-c1", "G_none", NOW).reason,
      ix.decide("hash-c1", "G_deny", NOW).reason,
      ix.decide("hash-c1", "G_sched", NOW).reason,
      ix.decide("hash-c1", "G_fresh", NOW, 5001).reason,
    ]);
    expect([...seen].sort()).toEqual([...REASONS].sort());
  });

  test("user_id is present for every reason except unknown_token", () => {
    const ix = build({
      users: [user("u1"), user("off", { active: false })],
      gates: [gate("G_ok"), gate("G_off", { mode: "disabled" }), gate("G_lock", { mode: "locked" }), gate("G_none")],
      grants: [allow("a1", { user: "u1", gate: "G_ok" })],
      credentials: [
        cred("c1", "u1"), cred("cexp", "u1", { expiresAt: NOW - 1 }), cred("crev", "u1", { revoked: true }),
        cred("cfut", "u1", { validFrom: NOW + 1 }), cred("coff", "off"),
      ],
    });
    const known: Array<[string, string, string, Reason]> = [
      ["c1", "G_ok", "u1", "granted"], ["c1", "G_missing", "u1", "unknown_gate"], ["c1", "G_off", "u1", "gate_disabled"],
      ["c1", "G_lock", "u1", "gate_locked"], ["c1", "G_none", "u1", "no_grant"], ["cexp", "G_ok", "u1", "expired_token"],
      ["crev", "G_ok", "u1", "revoked_token"], ["cfut", "G_ok", "u1", "not_yet_valid"], ["coff", "G_ok", "off", "inactive_user"],
    ];
    for (const [c, g, u, r] of known) expect(ix.decide(`hash-${c}`, g, NOW)).toMatchObject({ reason: r, userId: u, credentialId: c });
    expect(ix.decide("zzz", "G_ok", NOW).userId).toBeUndefined();
  });
});

describe("deny beats allow", () => {
  const base = {
    users: [user("u1")],
    zones: [zone("Z1")],
    gates: [gate("G1", { zoneId: "Z1" }), gate("G2", { zoneId: "Z1" })],
    credentials: [cred("c1", "u1")],
  };

  test("a direct deny beats a direct allow on the same gate, whatever the order", () => {
    for (const grants of [
      [allow("a", { user: "u1", gate: "G1" }), deny("d", { user: "u1", gate: "G1" })],
      [deny("d", { user: "u1", gate: "G1" }), allow("a", { user: "u1", gate: "G1" })],
    ]) {
      expect(reason(build({ ...base, grants }), "c1", "G1")).toBe("denied");
    }
  });

  test("a zone deny beats a gate allow", () => {
    const ix = build({ ...base, grants: [allow("a", { user: "u1", gate: "G1" }), deny("d", { user: "u1", zone: "Z1" })] });
    expect(reason(ix, "c1", "G1")).toBe("denied");
  });

  test("a gate deny beats a zone allow, only on that gate", () => {
    const ix = build({ ...base, grants: [allow("a", { user: "u1", zone: "Z1" }), deny("d", { user: "u1", gate: "G1" })] });
    expect(reason(ix, "c1", "G1")).toBe("denied");
    expect(reason(ix, "c1", "G2")).toBe("granted");
  });

  test("a group deny beats a direct user allow", () => {
    const ix = build({
      ...base,
      groups: [group("g1")],
      memberships: [["g1", "u1"]],
      grants: [allow("a", { user: "u1", gate: "G1" }), deny("d", { group: "g1", gate: "G1" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("denied");
  });

  test("a deny via a grandparent group beats a direct user allow", () => {
    const ix = build({
      ...base,
      groups: [group("grand"), group("parent", "grand"), group("child", "parent")],
      memberships: [["child", "u1"]],
      grants: [allow("a", { user: "u1", gate: "G1" }), deny("d", { group: "grand", gate: "G1" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("denied");
    expect(reason(ix, "c1", "G2")).toBe("no_grant");
  });

  test("a user deny beats a group allow", () => {
    const ix = build({
      ...base,
      groups: [group("g1")],
      memberships: [["g1", "u1"]],
      grants: [allow("a", { group: "g1", zone: "Z1" }), deny("d", { user: "u1", gate: "G2" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(reason(ix, "c1", "G2")).toBe("denied");
  });

  test("a deny for someone else does not affect the user", () => {
    const ix = build({
      ...base,
      users: [user("u1"), user("u2")],
      grants: [allow("a", { user: "u1", gate: "G1" }), deny("d", { user: "u2", gate: "G1" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("granted");
  });
});

describe("groups", () => {
  const base = {
    users: [user("u1"), user("u2")],
    gates: [gate("G1"), gate("G2")],
    credentials: [cred("c1", "u1"), cred("c2", "u2")],
  };

  test("a member of a deeply nested group gets the grants of every ancestor", () => {
    const ix = build({
      ...base,
      groups: [group("l0"), group("l1", "l0"), group("l2", "l1"), group("l3", "l2"), group("l4", "l3")],
      memberships: [["l4", "u1"]],
      grants: [allow("a", { group: "l0", gate: "G1" }), allow("b", { group: "l2", gate: "G2" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(reason(ix, "c1", "G2")).toBe("granted");
    expect([...ix.effectiveGroups("u1").keys()].sort()).toEqual(["l0", "l1", "l2", "l3", "l4"]);
  });

  test("grants flow down to members of child groups, never up to members of the parent", () => {
    const ix = build({
      ...base,
      groups: [group("parent"), group("child", "parent")],
      memberships: [["parent", "u1"], ["child", "u2"]],
      grants: [allow("a", { group: "child", gate: "G1" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    expect(reason(ix, "c2", "G1")).toBe("granted");
  });

  test("a user in several groups gets the union of their grants", () => {
    const ix = build({
      ...base,
      groups: [group("a"), group("b")],
      memberships: [["a", "u1"], ["b", "u1"]],
      grants: [allow("ga", { group: "a", gate: "G1" }), allow("gb", { group: "b", gate: "G2" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(reason(ix, "c1", "G2")).toBe("granted");
  });

  test("a group cycle (A parent B, B parent A) does not hang and still grants", () => {
    const ix = build({
      ...base,
      groups: [group("A", "B"), group("B", "A")],
      memberships: [["A", "u1"], ["B", "u2"]],
      grants: [allow("ga", { group: "A", gate: "G1" }), allow("gb", { group: "B", gate: "G2" })],
    });
    for (const c of ["c1", "c2"]) {
      expect(reason(ix, c, "G1")).toBe("granted");
      expect(reason(ix, c, "G2")).toBe("granted");
    }
    expect([...ix.effectiveGroups("u1").keys()].sort()).toEqual(["A", "B"]);
  });

  test("a longer cycle with a tail still resolves every group once", () => {
    const ix = build({
      ...base,
      groups: [group("leaf", "A"), group("A", "B"), group("B", "C"), group("C", "A")],
      memberships: [["leaf", "u1"]],
      grants: [deny("dc", { group: "C", gate: "G1" }), allow("ab", { group: "B", gate: "G1" }), allow("a2", { group: "A", gate: "G2" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("denied");
    expect(reason(ix, "c1", "G2")).toBe("granted");
    expect([...ix.effectiveGroups("u1").keys()].sort()).toEqual(["A", "B", "C", "leaf"]);
  });

  test("a group whose parent does not exist still grants its own members", () => {
    const ix = build({
      ...base,
      groups: [group("orphan", "ghost")],
      memberships: [["orphan", "u1"]],
      grants: [allow("a", { group: "orphan", gate: "G1" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("granted");
  });

  test("effectiveGroups records the path from the direct group up to each ancestor", () => {
    const ix = build({
      ...base,
      groups: [group("root"), group("mid", "root"), group("leaf", "mid")],
      memberships: [["leaf", "u1"]],
    });
    const paths = ix.effectiveGroups("u1");
    expect(paths.get("leaf")).toEqual(["leaf"]);
    expect(paths.get("mid")).toEqual(["leaf", "mid"]);
    expect(paths.get("root")).toEqual(["leaf", "mid", "root"]);
  });
});

describe("zones", () => {
  const base = {
    users: [user("u1")],
    zones: [zone("Z1"), zone("Z2")],
    gates: [gate("in1", { zoneId: "Z1" }), gate("in2", { zoneId: "Z1" }), gate("other", { zoneId: "Z2" }), gate("nozone")],
    credentials: [cred("c1", "u1")],
    grants: [allow("z", { user: "u1", zone: "Z1" })],
  };

  test("a zone grant applies to every gate in the zone and to no other gate", () => {
    const ix = build(base);
    expect(reason(ix, "c1", "in1")).toBe("granted");
    expect(reason(ix, "c1", "in2")).toBe("granted");
    expect(reason(ix, "c1", "other")).toBe("no_grant");
    expect(reason(ix, "c1", "nozone")).toBe("no_grant");
  });

  test("a zone grant stops applying when the gate moves out of the zone, and applies in the new zone", () => {
    const ix = build(base);
    ix.apply(changes(2, { gates: [["in1", gate("in1", { zoneId: "Z2" })], ["other", gate("other", { zoneId: "Z1" })]] }));
    expect(reason(ix, "c1", "in1")).toBe("no_grant");
    expect(reason(ix, "c1", "other")).toBe("granted");
    ix.apply(changes(3, { gates: [["in2", gate("in2", { zoneId: null })]] }));
    expect(reason(ix, "c1", "in2")).toBe("no_grant");
  });

  test("a zone deny follows the gate too", () => {
    const ix = build({ ...base, grants: [allow("g", { user: "u1", gate: "other" }), deny("zd", { user: "u1", zone: "Z1" })] });
    expect(reason(ix, "c1", "other")).toBe("granted");
    ix.apply(changes(2, { gates: [["other", gate("other", { zoneId: "Z1" })]] }));
    expect(reason(ix, "c1", "other")).toBe("denied");
  });
});

describe("grant validity and schedules", () => {
  const base = {
    users: [user("u1")],
    zones: [zone("Z1")],
    gates: [gate("G1", { zoneId: "Z1" })],
    credentials: [cred("c1", "u1")],
    schedules: [closedSchedule("closed"), openSchedule("open")],
  };

  test("an allow counts only inside [validFrom, validUntil)", () => {
    const ix = build({ ...base, grants: [allow("a", { user: "u1", gate: "G1", validFrom: NOW, validUntil: NOW + HOUR })] });
    expect(reason(ix, "c1", "G1", NOW - 1)).toBe("no_grant");
    expect(reason(ix, "c1", "G1", NOW)).toBe("granted");
    expect(reason(ix, "c1", "G1", NOW + HOUR - 1)).toBe("granted");
    expect(reason(ix, "c1", "G1", NOW + HOUR)).toBe("no_grant");
  });

  test("an allow outside its validity gives no_grant even when its schedule is closed", () => {
    const ix = build({
      ...base,
      grants: [allow("a", { user: "u1", gate: "G1", scheduleId: "closed", validUntil: NOW })],
    });
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    expect(reason(ix, "c1", "G1", NOW - 1)).toBe("outside_schedule");
  });

  test("an allow with a closed schedule gives outside_schedule, an open one grants", () => {
    expect(reason(build({ ...base, grants: [allow("a", { user: "u1", gate: "G1", scheduleId: "closed" })] }), "c1", "G1"))
      .toBe("outside_schedule");
    expect(reason(build({ ...base, grants: [allow("a", { user: "u1", gate: "G1", scheduleId: "open" })] }), "c1", "G1"))
      .toBe("granted");
  });

  test("a closed allow does not hide an open one (gate or zone, either order)", () => {
    for (const grants of [
      [allow("a", { user: "u1", gate: "G1", scheduleId: "closed" }), allow("b", { user: "u1", gate: "G1" })],
      [allow("b", { user: "u1", gate: "G1" }), allow("a", { user: "u1", gate: "G1", scheduleId: "closed" })],
      [allow("a", { user: "u1", gate: "G1", scheduleId: "closed" }), allow("b", { user: "u1", zone: "Z1" })],
      [allow("a", { user: "u1", gate: "G1" }), allow("b", { user: "u1", zone: "Z1", scheduleId: "closed" })],
    ]) {
      expect(reason(build({ ...base, grants }), "c1", "G1")).toBe("granted");
    }
  });

  test("a deny whose schedule is closed does not deny", () => {
    const ix = build({
      ...base,
      grants: [allow("a", { user: "u1", gate: "G1" }), deny("d", { user: "u1", zone: "Z1", scheduleId: "closed" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("granted");
    const onlyDeny = build({ ...base, grants: [deny("d", { user: "u1", gate: "G1", scheduleId: "closed" })] });
    expect(reason(onlyDeny, "c1", "G1")).toBe("no_grant");
  });

  test("a deny whose schedule is open denies", () => {
    const ix = build({
      ...base,
      grants: [allow("a", { user: "u1", gate: "G1" }), deny("d", { user: "u1", gate: "G1", scheduleId: "open" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("denied");
  });

  test("a deny outside its validity window does not deny", () => {
    const ix = build({
      ...base,
      grants: [allow("a", { user: "u1", gate: "G1" }), deny("d", { user: "u1", gate: "G1", validFrom: NOW + 1 })],
    });
    expect(reason(ix, "c1", "G1", NOW)).toBe("granted");
    expect(reason(ix, "c1", "G1", NOW + 1)).toBe("denied");
  });

  test("a closed deny and a closed allow give outside_schedule", () => {
    const ix = build({
      ...base,
      grants: [allow("a", { user: "u1", gate: "G1", scheduleId: "closed" }), deny("d", { user: "u1", gate: "G1", scheduleId: "closed" })],
    });
    expect(reason(ix, "c1", "G1")).toBe("outside_schedule");
  });

  test("a grant whose schedule does not exist is closed: an allow gives outside_schedule, a deny does not deny", () => {
    const a = build({ ...base, grants: [allow("a", { user: "u1", gate: "G1", scheduleId: "missing" })] });
    expect(reason(a, "c1", "G1")).toBe("outside_schedule");
    const d = build({
      ...base,
      grants: [allow("a", { user: "u1", gate: "G1" }), deny("d", { user: "u1", gate: "G1", scheduleId: "missing" })],
    });
    expect(reason(d, "c1", "G1")).toBe("granted");
  });

  test("a business-hours schedule in the index opens and closes at the right instants", () => {
    const ix = build({
      ...base,
      schedules: [schedule("office", "Europe/Berlin", [{ days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" }])],
      grants: [allow("a", { user: "u1", gate: "G1", scheduleId: "office" })],
    });
    // Wednesday 2026-03-25, CET (UTC+1): 08:00 local = 07:00Z, 18:00 local = 17:00Z.
    expect(reason(ix, "c1", "G1", Date.parse("2026-03-25T06:59:59Z"))).toBe("outside_schedule");
    expect(reason(ix, "c1", "G1", Date.parse("2026-03-25T07:00:00Z"))).toBe("granted");
    expect(reason(ix, "c1", "G1", Date.parse("2026-03-25T16:59:59Z"))).toBe("granted");
    expect(reason(ix, "c1", "G1", Date.parse("2026-03-25T17:00:00Z"))).toBe("outside_schedule");
    // Saturday.
    expect(reason(ix, "c1", "G1", Date.parse("2026-03-28T10:00:00Z"))).toBe("outside_schedule");
    // Monday after the DST change, CEST (UTC+2): 08:00 local = 06:00Z.
    expect(reason(ix, "c1", "G1", Date.parse("2026-03-30T06:00:00Z"))).toBe("granted");
    expect(reason(ix, "c1", "G1", Date.parse("2026-03-30T16:00:00Z"))).toBe("outside_schedule");
  });

  test("an always-open schedule grants at every hour of the week", () => {
    const ix = build({ ...base, grants: [allow("a", { user: "u1", gate: "G1", scheduleId: "open" })] });
    for (let i = 0; i < 7 * 24; i += 5) expect(reason(ix, "c1", "G1", NOW + i * HOUR)).toBe("granted");
  });
});

describe("decide: data age", () => {
  const ix = build({
    users: [user("u1")],
    gates: [gate("G_bound", { maxStalenessMs: 2000 }), gate("G_free")],
    grants: [allow("a1", { user: "u1", gate: "G_bound" }), allow("a2", { user: "u1", gate: "G_free" })],
    credentials: [cred("c1", "u1"), cred("crev", "u1", { revoked: true })],
  });

  test("a gate with max_staleness_ms refuses with stale_index once the data is older, whatever the token; others decide as ever", () => {
    expect(ix.decide("hash-c1", "G_bound", NOW, 2000)).toMatchObject({ allow: true, reason: "granted" });
    expect(ix.decide("hash-c1", "G_bound", NOW, 2001)).toMatchObject({ allow: false, reason: "stale_index", userId: "u1" });
    expect(ix.decide("hash-crev", "G_bound", NOW, 2001).reason).toBe("stale_index");
    expect(ix.decide("nope", "G_bound", NOW, 2001).reason).toBe("stale_index");
    expect(ix.decide("hash-c1", "G_bound", NOW, Infinity).reason).toBe("stale_index");
    expect(ix.decide("hash-c1", "G_free", NOW, 3_600_000)).toMatchObject({ allow: true, reason: "granted" });
    expect(ix.decide("hash-crev", "G_free", NOW, 3_600_000).reason).toBe("revoked_token");
  });
});

import { describe, expect, test } from "bun:test";
import {
  HOUR, NOW, allow, build, changes, closedSchedule, cred, deny, gate, grant, group, reason, schedule, user, zone,
} from "./helpers";

describe("apply: memberships", () => {
  const base = () => build({
    users: [user("u1")],
    groups: [group("staff"), group("team", "staff")],
    gates: [gate("G1"), gate("G2")],
    grants: [allow("a", { group: "staff", gate: "G1" }), allow("b", { group: "team", gate: "G2" })],
    credentials: [cred("c1", "u1")],
  });

  test("adding a user to a group grants its gates, removing takes them away", () => {
    const ix = base();
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    ix.apply(changes(2, { memberships: [["u1", ["staff"]]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(reason(ix, "c1", "G2")).toBe("no_grant");
    ix.apply(changes(3, { memberships: [["u1", []]] }));
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
  });

  test("joining a child group brings the parent's grants; the list replaces all direct groups", () => {
    const ix = base();
    ix.apply(changes(2, { memberships: [["u1", ["team"]]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(reason(ix, "c1", "G2")).toBe("granted");
    ix.apply(changes(3, { memberships: [["u1", ["staff"]]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(reason(ix, "c1", "G2")).toBe("no_grant");
    expect([...ix.groupsOfUser.get("u1")!]).toEqual(["staff"]);
    expect(ix.membersOfGroup.get("team")).toBeUndefined();
  });

  test("a membership change for one user leaves other users alone", () => {
    const ix = build({
      users: [user("u1"), user("u2")],
      groups: [group("g")],
      memberships: [["g", "u1"], ["g", "u2"]],
      gates: [gate("G1")],
      grants: [allow("a", { group: "g", gate: "G1" })],
      credentials: [cred("c1", "u1"), cred("c2", "u2")],
    });
    ix.apply(changes(2, { memberships: [["u1", []]] }));
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    expect(reason(ix, "c2", "G1")).toBe("granted");
  });

  test("a new group deny reaches a member through a membership change", () => {
    const ix = base();
    ix.apply(changes(2, { memberships: [["u1", ["team"]]], grants: [["d", deny("d", { group: "staff", gate: "G2" })]] }));
    expect(reason(ix, "c1", "G2")).toBe("denied");
  });
});

describe("apply: groups", () => {
  const base = () => build({
    users: [user("u1"), user("u2")],
    groups: [group("P1"), group("P2"), group("mid", "P1"), group("leaf", "mid")],
    memberships: [["mid", "u1"], ["leaf", "u2"]],
    gates: [gate("G1"), gate("G2")],
    grants: [allow("a", { group: "P1", gate: "G1" }), allow("b", { group: "P2", gate: "G2" })],
    credentials: [cred("c1", "u1"), cred("c2", "u2")],
  });

  test("re-parenting a group moves its members and the members of its descendants", () => {
    const ix = base();
    for (const c of ["c1", "c2"]) {
      expect(reason(ix, c, "G1")).toBe("granted");
      expect(reason(ix, c, "G2")).toBe("no_grant");
    }
    ix.apply(changes(2, { groups: [["mid", group("mid", "P2")]] }));
    for (const c of ["c1", "c2"]) {
      expect(reason(ix, c, "G1")).toBe("no_grant");
      expect(reason(ix, c, "G2")).toBe("granted");
    }
    ix.apply(changes(3, { groups: [["mid", group("mid", null)]] }));
    for (const c of ["c1", "c2"]) {
      expect(reason(ix, c, "G1")).toBe("no_grant");
      expect(reason(ix, c, "G2")).toBe("no_grant");
    }
  });

  test("re-parenting a root group reaches members several levels below", () => {
    const ix = base();
    ix.apply(changes(2, { groups: [["P1", group("P1", "P2")]] }));
    expect(reason(ix, "c2", "G1")).toBe("granted");
    expect(reason(ix, "c2", "G2")).toBe("granted");
  });

  test("re-parenting into a cycle does not hang and keeps every group of the cycle", () => {
    const ix = base();
    ix.apply(changes(2, { groups: [["P1", group("P1", "leaf")]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(reason(ix, "c2", "G1")).toBe("granted");
    expect([...ix.effectiveGroups("u1").keys()].sort()).toEqual(["P1", "leaf", "mid"]);
    // Break the cycle again from the other side.
    ix.apply(changes(3, { groups: [["mid", group("mid", null)]] }));
    expect([...ix.effectiveGroups("u1").keys()].sort()).toEqual(["mid"]);
    expect([...ix.effectiveGroups("u2").keys()].sort()).toEqual(["leaf", "mid"]);
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
  });

  test("deleting a group (children set to no parent, memberships gone) drops its grants", () => {
    const ix = base();
    ix.apply(changes(2, {
      groups: [["mid", null], ["leaf", group("leaf", null)]],
      memberships: [["u1", []]],
      grants: [],
    }));
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    expect(reason(ix, "c2", "G1")).toBe("no_grant");
    expect(ix.groups.has("mid")).toBe(false);
    expect(ix.membersOfGroup.has("mid")).toBe(false);
  });

  test("deleting a group alone (no other rows named) also drops what it passed on", () => {
    const ix = base();
    ix.apply(changes(2, { groups: [["mid", null]] }));
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    // leaf's parent no longer exists, so u2 loses P1's grant too.
    expect(reason(ix, "c2", "G1")).toBe("no_grant");
    expect(ix.groupsOfUser.get("u1")).toBeUndefined();
  });

  test("deleting the group a grant is on, with the grant, denies nothing more", () => {
    const ix = build({
      users: [user("u1")],
      groups: [group("g")],
      memberships: [["g", "u1"]],
      gates: [gate("G1")],
      grants: [allow("a", { user: "u1", gate: "G1" }), deny("d", { group: "g", gate: "G1" })],
      credentials: [cred("c1", "u1")],
    });
    expect(reason(ix, "c1", "G1")).toBe("denied");
    ix.apply(changes(2, { groups: [["g", null]], grants: [["d", null]], memberships: [["u1", []]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
  });

  test("a new group created with a parent and members in one change set", () => {
    const ix = base();
    ix.apply(changes(2, { groups: [["new", group("new", "P2")]], memberships: [["u1", ["mid", "new"]]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(reason(ix, "c1", "G2")).toBe("granted");
  });

  test("a child created before its parent in the same change set", () => {
    const ix = base();
    ix.apply(changes(2, {
      groups: [["kid", group("kid", "newroot")], ["newroot", group("newroot", null)]],
      memberships: [["u1", ["kid"]]],
      grants: [["nr", allow("nr", { group: "newroot", gate: "G2" })]],
    }));
    expect(reason(ix, "c1", "G2")).toBe("granted");
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
  });
});

describe("apply: grants", () => {
  const base = () => build({
    users: [user("u1"), user("u2")],
    groups: [group("g")],
    memberships: [["g", "u2"]],
    zones: [zone("Z1")],
    gates: [gate("G1", { zoneId: "Z1" }), gate("G2")],
    grants: [allow("a", { user: "u1", gate: "G1" })],
    credentials: [cred("c1", "u1"), cred("c2", "u2")],
  });

  test("deleting a grant takes its access away", () => {
    const ix = base();
    ix.apply(changes(2, { grants: [["a", null]] }));
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    expect(ix.grants.has("a")).toBe(false);
    expect(ix.grantsOfUser.has("u1")).toBe(false);
  });

  test("re-subjecting a grant from one user to another moves the access", () => {
    const ix = base();
    ix.apply(changes(2, { grants: [["a", allow("a", { user: "u2", gate: "G1" })]] }));
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    expect(reason(ix, "c2", "G1")).toBe("granted");
  });

  test("re-subjecting a grant from a user to a group, and back", () => {
    const ix = base();
    ix.apply(changes(2, { grants: [["a", allow("a", { group: "g", gate: "G1" })]] }));
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    expect(reason(ix, "c2", "G1")).toBe("granted");
    ix.apply(changes(3, { grants: [["a", allow("a", { user: "u1", gate: "G1" })]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(reason(ix, "c2", "G1")).toBe("no_grant");
  });

  test("re-targeting a grant from a gate to a zone and changing its effect", () => {
    const ix = base();
    ix.apply(changes(2, { grants: [["a", allow("a", { user: "u1", gate: "G2" })]] }));
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    expect(reason(ix, "c1", "G2")).toBe("granted");
    ix.apply(changes(3, { grants: [["a", deny("a", { user: "u1", zone: "Z1" })], ["b", allow("b", { user: "u1", gate: "G1" })]] }));
    expect(reason(ix, "c1", "G1")).toBe("denied");
    expect(reason(ix, "c1", "G2")).toBe("no_grant");
  });

  test("deleting a deny restores the allow", () => {
    const ix = base();
    ix.apply(changes(2, { grants: [["d", deny("d", { group: "g", gate: "G1" })], ["b", allow("b", { user: "u2", gate: "G1" })]] }));
    expect(reason(ix, "c2", "G1")).toBe("denied");
    ix.apply(changes(3, { grants: [["d", null]] }));
    expect(reason(ix, "c2", "G1")).toBe("granted");
  });

  test("changing a grant's validity window takes effect", () => {
    const ix = base();
    ix.apply(changes(2, { grants: [["a", grant("a", { user: "u1", gate: "G1", validUntil: NOW })]] }));
    expect(reason(ix, "c1", "G1")).toBe("no_grant");
    expect(reason(ix, "c1", "G1", NOW - 1)).toBe("granted");
  });
});

describe("apply: credentials", () => {
  const base = () => build({
    users: [user("u1")],
    gates: [gate("G1")],
    grants: [allow("a", { user: "u1", gate: "G1" })],
    credentials: [cred("c1", "u1")],
  });

  test("revoking a credential gives revoked_token", () => {
    const ix = base();
    ix.apply(changes(2, { credentials: [["c1", cred("c1", "u1", { revoked: true })]] }));
    expect(reason(ix, "c1", "G1")).toBe("revoked_token");
  });

  test("a new secret hash works and the old one becomes unknown", () => {
    const ix = base();
    ix.apply(changes(2, { credentials: [["c1", cred("c1", "u1", { secretHash: "new-hash" })]] }));
    expect(ix.decide("hash-c1", "G1", NOW).reason).toBe("unknown_token");
    expect(ix.decide("new-hash", "G1", NOW)).toMatchObject({ reason: "granted", credentialId: "c1" });
    expect(ix.credentialsByHash.size).toBe(1);
  });

  test("deleting a credential makes its token unknown; adding one makes it work", () => {
    const ix = base();
    ix.apply(changes(2, { credentials: [["c1", null], ["c2", cred("c2", "u1", { kind: "pin" })]] }));
    expect(reason(ix, "c1", "G1")).toBe("unknown_token");
    expect(ix.decide("hash-c2", "G1", NOW)).toMatchObject({ reason: "granted", credentialKind: "pin" });
  });

  test("changing expiry and validFrom takes effect", () => {
    const ix = base();
    ix.apply(changes(2, { credentials: [["c1", cred("c1", "u1", { expiresAt: NOW })]] }));
    expect(reason(ix, "c1", "G1")).toBe("expired_token");
    ix.apply(changes(3, { credentials: [["c1", cred("c1", "u1", { validFrom: NOW + HOUR })]] }));
    expect(reason(ix, "c1", "G1")).toBe("not_yet_valid");
  });

  // A card re-issued with the same number: the old credential is deleted and a new one takes its
  // hash. The change feed names rows in no particular order, so both orders must work.
  test("a deleted credential's hash taken by a new credential works whichever row is listed first", () => {
    for (const order of ["old-first", "new-first"] as const) {
      const ix = base();
      const rows: Array<[string, ReturnType<typeof cred> | null]> = [
        ["c1", null],
        ["c9", cred("c9", "u1", { secretHash: "hash-c1", kind: "pin" })],
      ];
      if (order === "new-first") rows.reverse();
      ix.apply(changes(2, { credentials: rows }));
      expect({ order, d: ix.decide("hash-c1", "G1", NOW) }).toMatchObject({
        order, d: { reason: "granted", credentialId: "c9" },
      });
    }
  });

  test("a hash given up by one credential and taken by another works whichever row is listed first", () => {
    for (const order of ["giver-first", "taker-first"] as const) {
      const ix = build({
        users: [user("u1")],
        gates: [gate("G1")],
        grants: [allow("a", { user: "u1", gate: "G1" })],
        credentials: [cred("c1", "u1"), cred("c2", "u1")],
      });
      const rows: Array<[string, ReturnType<typeof cred>]> = [
        ["c1", cred("c1", "u1", { secretHash: "fresh" })],
        ["c2", cred("c2", "u1", { secretHash: "hash-c1" })],
      ];
      if (order === "taker-first") rows.reverse();
      ix.apply(changes(2, { credentials: rows }));
      expect({ order, d: ix.decide("hash-c1", "G1", NOW).credentialId }).toEqual({ order, d: "c2" });
      expect({ order, d: ix.decide("fresh", "G1", NOW).credentialId }).toEqual({ order, d: "c1" });
      expect({ order, d: ix.decide("hash-c2", "G1", NOW).reason }).toEqual({ order, d: "unknown_token" });
    }
  });
});

describe("apply: users", () => {
  const base = () => build({
    users: [user("u1")],
    groups: [group("g")],
    memberships: [["g", "u1"]],
    gates: [gate("G1"), gate("G2")],
    grants: [allow("a", { user: "u1", gate: "G1" }), allow("b", { group: "g", gate: "G2" })],
    credentials: [cred("c1", "u1")],
  });

  test("deactivating a user gives inactive_user, reactivating restores access", () => {
    const ix = base();
    ix.apply(changes(2, { users: [["u1", user("u1", { active: false })]] }));
    expect(reason(ix, "c1", "G1")).toBe("inactive_user");
    ix.apply(changes(3, { users: [["u1", user("u1")]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(reason(ix, "c1", "G2")).toBe("granted");
  });

  test("changing a user's validity window takes effect", () => {
    const ix = base();
    ix.apply(changes(2, { users: [["u1", user("u1", { validUntil: NOW })]] }));
    expect(reason(ix, "c1", "G1")).toBe("inactive_user");
    expect(reason(ix, "c1", "G1", NOW - 1)).toBe("granted");
  });

  test("deleting a user leaves a dangling credential inactive, then unknown once it goes too", () => {
    const ix = base();
    ix.apply(changes(2, { users: [["u1", null]] }));
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ reason: "inactive_user", userId: "u1" });
    expect(ix.compiled.has("u1")).toBe(false);
    expect(ix.membersOfGroup.has("g")).toBe(false);
    ix.apply(changes(3, { credentials: [["c1", null]], grants: [["a", null]] }));
    expect(reason(ix, "c1", "G1")).toBe("unknown_token");
  });
});

describe("apply: schedules, gates and zones", () => {
  const base = () => build({
    users: [user("u1")],
    zones: [zone("Z1")],
    gates: [gate("G1", { zoneId: "Z1" })],
    schedules: [closedSchedule("s")],
    grants: [allow("a", { user: "u1", gate: "G1", scheduleId: "s" })],
    credentials: [cred("c1", "u1")],
  });

  test("editing a schedule in place takes effect for existing grants", () => {
    const ix = base();
    expect(reason(ix, "c1", "G1")).toBe("outside_schedule");
    const compiledBefore = ix.schedules.get("s");
    // NOW is Wednesday 12:00Z.
    ix.apply(changes(2, { schedules: [["s", schedule("s", "UTC", [{ days: [3], start: "11:00", end: "13:00" }])]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
    expect(ix.schedules.get("s")).toBe(compiledBefore!);
    ix.apply(changes(3, { schedules: [["s", schedule("s", "UTC", [{ days: [3], start: "13:00", end: "14:00" }])]] }));
    expect(reason(ix, "c1", "G1")).toBe("outside_schedule");
  });

  test("changing a schedule's timezone takes effect", () => {
    const ix = base();
    // Wednesday 12:00Z is 13:00 in Berlin (CET) and 05:00 in Los Angeles (PDT).
    ix.apply(changes(2, { schedules: [["s", schedule("s", "Europe/Berlin", [{ days: [3], start: "13:00", end: "14:00" }])]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
    ix.apply(changes(3, { schedules: [["s", schedule("s", "America/Los_Angeles", [{ days: [3], start: "13:00", end: "14:00" }])]] }));
    expect(reason(ix, "c1", "G1")).toBe("outside_schedule");
    ix.apply(changes(4, { schedules: [["s", schedule("s", "America/Los_Angeles", [{ days: [3], start: "05:00", end: "06:00" }])]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
  });

  test("a deny's schedule opening makes it deny, closing makes it stop", () => {
    const ix = build({
      users: [user("u1")],
      gates: [gate("G1")],
      schedules: [closedSchedule("s")],
      grants: [allow("a", { user: "u1", gate: "G1" }), deny("d", { user: "u1", gate: "G1", scheduleId: "s" })],
      credentials: [cred("c1", "u1")],
    });
    expect(reason(ix, "c1", "G1")).toBe("granted");
    ix.apply(changes(2, { schedules: [["s", schedule("s", "UTC", [{ days: [3], start: "00:00", end: "24:00" }])]] }));
    expect(reason(ix, "c1", "G1")).toBe("denied");
    ix.apply(changes(3, { schedules: [["s", null]] }));
    expect(reason(ix, "c1", "G1")).toBe("granted");
  });

  test("gate mode, unlockMs and deletion are read at decision time", () => {
    const ix = base();
    ix.apply(changes(2, { grants: [["a", allow("a", { user: "u1", gate: "G1" })]] }));
    expect(ix.decide("hash-c1", "G1", NOW).unlockMs).toBe(800);
    ix.apply(changes(3, { gates: [["G1", gate("G1", { zoneId: "Z1", unlockMs: 5000 })]] }));
    expect(ix.decide("hash-c1", "G1", NOW)).toMatchObject({ reason: "granted", unlockMs: 5000 });
    ix.apply(changes(4, { gates: [["G1", gate("G1", { zoneId: "Z1", mode: "locked" })]] }));
    expect(reason(ix, "c1", "G1")).toBe("gate_locked");
    ix.apply(changes(5, { gates: [["G1", gate("G1", { zoneId: "Z1", mode: "disabled" })]] }));
    expect(reason(ix, "c1", "G1")).toBe("gate_disabled");
    ix.apply(changes(6, { gates: [["G1", null]] }));
    expect(reason(ix, "c1", "G1")).toBe("unknown_gate");
  });

  test("a zone grant follows a gate that is created into the zone", () => {
    const ix = base();
    ix.apply(changes(2, { grants: [["z", allow("z", { user: "u1", zone: "Z1" })]] }));
    expect(reason(ix, "c1", "NEW")).toBe("unknown_gate");
    ix.apply(changes(3, { gates: [["NEW", gate("NEW", { zoneId: "Z1" })]] }));
    expect(reason(ix, "c1", "NEW")).toBe("granted");
  });
});

describe("apply: revision", () => {
  test("the revision only grows", () => {
    const ix = build({ revision: 4 });
    expect(ix.revision).toBe(4);
    ix.apply(changes(7));
    expect(ix.revision).toBe(7);
    ix.apply(changes(5, { users: [["u1", user("u1")]] }));
    expect(ix.revision).toBe(7);
    expect(ix.users.has("u1")).toBe(true);
    ix.apply(changes(7));
    expect(ix.revision).toBe(7);
    ix.apply(changes(8));
    expect(ix.revision).toBe(8);
  });

  test("counts() reflects applied rows", () => {
    const ix = build({ users: [user("u1")], credentials: [cred("c1", "u1")] });
    ix.apply(changes(2, {
      users: [["u2", user("u2")]],
      zones: [["Z", zone("Z")]],
      gates: [["G", gate("G")]],
      credentials: [["c1", null]],
    }));
    expect(ix.counts()).toEqual({ users: 2, groups: 0, zones: 1, gates: 1, schedules: 0, grants: 0, credentials: 0 });
  });
});

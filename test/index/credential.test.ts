import { describe, expect, test } from "bun:test";
import { PackedCredential } from "../../src/index/credential";

describe("PackedCredential", () => {
  test("every kind, scope list and flag survives packing", () => {
    for (const kind of ["card", "pin", "api", "device", "session"] as const) {
      for (const scopes of [[], ["admin"], ["user"], ["admin", "user"], ["user", "admin"]]) {
        for (const revoked of [false, true]) {
          for (const deviceRevoked of [false, true]) {
            const c = new PackedCredential("c_1", "u_1", kind, scopes, "h", 10, -Infinity, revoked, deviceRevoked);
            expect({ kind: c.kind, scopes: [...c.scopes].sort(), revoked: c.revoked, deviceRevoked: c.deviceRevoked })
              .toEqual({ kind, scopes: [...scopes].sort(), revoked, deviceRevoked });
          }
        }
      }
    }
  });

  test("flags can be changed in place; toJSON gives a plain record", () => {
    const c = new PackedCredential("c_2", "u_2", "card", [], "h2", Infinity, -Infinity, false);
    c.revoked = true;
    expect(c.revoked).toBe(true);
    expect(c.kind).toBe("card");
    expect(JSON.parse(JSON.stringify(c))).toEqual({ id: "c_2", userId: "u_2", kind: "card", scopes: [], secretHash: "h2", expiresAt: null, validFrom: null, revoked: true, deviceRevoked: false });
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestService, sleepUntil, type TestService } from "../setup";

// The whole suite runs twice: in-process through app.handle (the Elysia route) and over real
// HTTP, where Bun serves POST verify from its native route table (the fast path).
for (const http of [false, true]) describe(http ? "over HTTP" : "in-process", () => {
  let s: TestService;
  let alice: string; // secret of alice's card
  let aliceId: string;
  let revision: number;

  beforeAll(async () => {
    s = await startTestService({}, { http });
    const zone = (await s.call("POST", "/api/v1/admin/zones", { body: { name: "hq" } })).body;
    await s.call("POST", "/api/v1/admin/gates", { body: { id: "GATE_001", name: "Main", zone_id: zone.id, unlock_ms: 1500 } });
    await s.call("POST", "/api/v1/admin/gates", { body: { id: "GATE_LOCKED", name: "Locked", zone_id: zone.id, mode: "locked" } });
    await s.call("POST", "/api/v1/admin/gates", { body: { id: "GATE_OFF", name: "Off", mode: "disabled" } });
    aliceId = (await s.call("POST", "/api/v1/admin/users", { body: { username: "alice" } })).body.id;
    await s.call("POST", "/api/v1/admin/grants", { body: { subject: { user_id: aliceId }, target: { zone_id: zone.id } } });
    const cred = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: aliceId, kind: "card" } });
    alice = cred.body.secret;
    revision = cred.body.revision;
  });
  afterAll(() => s.stop());

  const verify = (body: unknown, headers?: Record<string, string>) =>
    s.call("POST", "/api/v1/access/verify", { body, token: null, headers });

  describe("POST /api/v1/access/verify", () => {
    test("allows a granted card with the gate's unlock time and the deciding revision", async () => {
      const r = await verify({ gate_id: "GATE_001", token: alice, min_revision: revision });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ allow: true, reason: "granted", gate_id: "GATE_001", user_id: aliceId, unlock_ms: 1500, revision: expect.any(Number) });
      expect(r.body.revision).toBeGreaterThanOrEqual(revision);
    });

    test("an unknown token is a refusal without user_id, not an error", async () => {
      const r = await verify({ gate_id: "GATE_001", token: "pcl_nobody" });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ allow: false, reason: "unknown_token", gate_id: "GATE_001", revision: expect.any(Number) });
    });

    test("a known token at an unknown, locked or disabled gate names the user", async () => {
      for (const [gate, reason] of [["NOPE", "unknown_gate"], ["GATE_LOCKED", "gate_locked"], ["GATE_OFF", "gate_disabled"]]) {
        const r = await verify({ gate_id: gate, token: alice, min_revision: revision });
        expect(r.body).toEqual({ allow: false, reason, gate_id: gate, user_id: aliceId, revision: expect.any(Number) });
      }
    });

    test("malformed input is 400 invalid_request naming the field", async () => {
      const cases: Array<[unknown, string]> = [
        [{ token: alice }, "gate_id"],
        [{ gate_id: "GATE_001" }, "token"],
        [{ gate_id: 7, token: alice }, "gate_id"],
        [{ gate_id: "", token: alice }, "gate_id"],
        [{ gate_id: "GATE_001", token: "" }, "token"],
        [{ gate_id: "GATE_001", token: alice, min_revision: -1 }, "min_revision"],
        [{ gate_id: "GATE_001", token: alice, min_revision: "5" }, "min_revision"],
        [{ gate_id: "GATE_001", token: alice, extra: 1 }, "extra"],
        [[1, 2], "body"],
        [null, "body"],
      ];
      for (const [body, field] of cases) {
        const r = await verify(body);
        expect(r.status).toBe(400);
        expect(r.body.error.code).toBe("invalid_request");
        expect(r.body.error.details.field).toBe(field);
      }
    });

    test("a body that is not JSON, or empty, is 400", async () => {
      for (const raw of ["{", "not json", ""]) {
        const r = await s.call("POST", "/api/v1/access/verify", { raw, token: null, headers: { "content-type": "application/json" } });
        expect(r.status).toBe(400);
        expect(r.body.error).toEqual({ code: "invalid_request", message: expect.any(String), details: { field: "body" } });
      }
    });

    test("a body over 4096 bytes is 413 payload_too_large", async () => {
      const r = await verify({ gate_id: "GATE_001", token: "x".repeat(5000) });
      expect(r.status).toBe(413);
      expect(r.body.error.code).toBe("payload_too_large");
      // Multi-byte characters count as bytes: 1500 × "€" is 4500 bytes.
      const r2 = await verify({ gate_id: "GATE_001", token: "€".repeat(1500) });
      expect(r2.status).toBe(413);
    });

    test("min_revision beyond what exists answers 503 unavailable with Retry-After after a short wait", async () => {
      const t0 = Date.now();
      const r = await verify({ gate_id: "GATE_001", token: alice, min_revision: revision + 10_000 });
      expect(r.status).toBe(503);
      expect(r.body.error.code).toBe("unavailable");
      expect(r.headers.get("retry-after")).toBe("1");
      expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    });

    test("read-your-writes: a revoke's revision as min_revision sees the revocation", async () => {
      const cred = await s.call("POST", "/api/v1/admin/credentials", { body: { user_id: aliceId, kind: "card", secret: "card-4711-0815" } });
      const revoked = await s.call("POST", `/api/v1/admin/credentials/${cred.body.id}/revoke`);
      expect(revoked.status).toBe(200);
      const r = await verify({ gate_id: "GATE_001", token: "card-4711-0815", min_revision: revoked.body.revision });
      expect(r.body.reason).toBe("revoked_token");
      expect(r.body.revision).toBeGreaterThanOrEqual(revoked.body.revision);
    });

    test("every decision becomes an access event in Postgres", async () => {
      await verify({ gate_id: "GATE_OFF", token: alice, min_revision: revision });
      const rows = await sleepUntil(async () => {
        const r = await s.db.sql`select gate_id, user_id, allow, reason from access_events where gate_id = 'GATE_OFF'`;
        return r.length ? r : null;
      }, "event row");
      expect(rows[0]).toEqual({ gate_id: "GATE_OFF", user_id: aliceId, allow: false, reason: "gate_disabled" });
    });

    test("X-Request-Id is echoed when sent and generated otherwise", async () => {
      const echoed = await verify({ gate_id: "GATE_001", token: alice }, { "x-request-id": "req-abc-123" });
      expect(echoed.headers.get("x-request-id")).toBe("req-abc-123");
      const made = await verify({ gate_id: "GATE_001", token: alice });
      expect(made.headers.get("x-request-id")).toBeTruthy();
      const err = await verify({});
      expect(err.headers.get("x-request-id")).toBeTruthy();
    });
  });

  describe("POST /api/v1/access/verify/batch", () => {
    test("answers every check in order", async () => {
      const r = await s.call("POST", "/api/v1/access/verify/batch", {
        token: null,
        body: { checks: [{ gate_id: "GATE_001", token: alice }, { gate_id: "GATE_001", token: "nope" }, { gate_id: "GATE_LOCKED", token: alice }] },
      });
      expect(r.status).toBe(200);
      expect(r.body.results.map((x: any) => x.reason)).toEqual(["granted", "unknown_token", "gate_locked"]);
      expect(r.body.revision).toEqual(expect.any(Number));
    });

    test("0 or more than 1000 checks is 400", async () => {
      expect((await s.call("POST", "/api/v1/access/verify/batch", { token: null, body: { checks: [] } })).status).toBe(400);
      const many = Array.from({ length: 1001 }, () => ({ gate_id: "G", token: "t" }));
      const r = await s.call("POST", "/api/v1/access/verify/batch", { token: null, body: { checks: many } });
      expect(r.status).toBe(400);
      expect(r.body.error.details.field).toBe("checks");
    });

    test("a body over 256 KiB is 413", async () => {
      const checks = Array.from({ length: 1000 }, () => ({ gate_id: "G", token: "t".repeat(300) }));
      const r = await s.call("POST", "/api/v1/access/verify/batch", { token: null, body: { checks } });
      expect(r.status).toBe(413);
    });
  });

  describe("GET /api/v1/access/verify (forward auth)", () => {
    test("204 with reason and user headers when allowed", async () => {
      const r = await s.call("GET", "/api/v1/access/verify?gate_id=GATE_001", { token: alice });
      expect(r.status).toBe(204);
      expect(r.headers.get("x-portcullis-reason")).toBe("granted");
      expect(r.headers.get("x-portcullis-user")).toBe(aliceId);
    });

    test("403 with the verify answer as body when denied", async () => {
      const r = await s.call("GET", "/api/v1/access/verify?gate_id=GATE_LOCKED", { token: alice });
      expect(r.status).toBe(403);
      expect(r.body).toEqual({ allow: false, reason: "gate_locked", gate_id: "GATE_LOCKED", user_id: aliceId, revision: expect.any(Number) });
      expect(r.headers.get("x-portcullis-reason")).toBe("gate_locked");
    });

    test("401 without a token; 400 without gate_id", async () => {
      const r = await s.call("GET", "/api/v1/access/verify?gate_id=GATE_001", { token: null });
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe("unauthorized");
      const r2 = await s.call("GET", "/api/v1/access/verify", { token: alice });
      expect(r2.status).toBe(400);
      expect(r2.body.error.details.field).toBe("gate_id");
    });
  });
});

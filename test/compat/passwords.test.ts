// verifyPassword: Django's hash formats next to our own, and the cost of a miss.
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { verifyPassword } from "../../src/admin/passwords";
import { djangoPbkdf2 } from "./django";

describe("verifyPassword", () => {
  test("a real Django pbkdf2_sha256 hash matches its password and asks for a re-hash", async () => {
    // Django 5.1's default iteration count; salt and encoding exactly as PBKDF2PasswordHasher.
    const stored = djangoPbkdf2("correct horse battery staple", 870_000);
    expect(stored).toMatch(/^pbkdf2_sha256\$870000\$[A-Za-z0-9]{22}\$[A-Za-z0-9+/]{43}=$/);
    expect(await verifyPassword("correct horse battery staple", stored)).toEqual({ ok: true, needsRehash: true });
    expect(await verifyPassword("correct horse battery stapl", stored)).toEqual({ ok: false, needsRehash: false });
    expect(await verifyPassword("", stored)).toEqual({ ok: false, needsRehash: false });
  });

  test("Django's own known-answer vectors (django/tests/auth_tests/test_hashers.py)", async () => {
    // make_password("lètmein", "seasalt", "pbkdf2_sha256") in Django 1.10 and 3.2.
    for (const stored of [
      "pbkdf2_sha256$30000$seasalt$VrX+V8drCGo68wlvy6rfu8i1d1pfkdeXA4LJkRGJodY=",
      "pbkdf2_sha256$260000$seasalt$YlZ2Vggtqdc61YjArZuoApoBh9JNGYoDRBUGu6tcJQo=",
    ]) {
      expect(await verifyPassword("lètmein", stored)).toEqual({ ok: true, needsRehash: true });
      expect(await verifyPassword("lètmeinz", stored)).toEqual({ ok: false, needsRehash: false });
      // The test's own encoder produces the same string.
      const [, iterations] = stored.split("$");
      expect(djangoPbkdf2("lètmein", Number(iterations), "seasalt")).toBe(stored);
    }
  });

  test("pbkdf2_sha1, Django's argon2 and bcrypt_sha256 formats", async () => {
    const { pbkdf2Sync } = await import("node:crypto");
    const sha1 = `pbkdf2_sha1$1000$saltsalt$${pbkdf2Sync("pw-sha1-one", "saltsalt", 1000, 20, "sha1").toString("base64")}`;
    expect((await verifyPassword("pw-sha1-one", sha1)).ok).toBe(true);
    expect((await verifyPassword("pw-sha1-two", sha1)).ok).toBe(false);

    // Django's Argon2PasswordHasher stores "argon2" + the PHC string.
    const argon = "argon2" + (await Bun.password.hash("pw-argon-django", "argon2id"));
    expect(await verifyPassword("pw-argon-django", argon)).toEqual({ ok: true, needsRehash: true });
    expect((await verifyPassword("wrong", argon)).ok).toBe(false);

    // BCryptSHA256PasswordHasher: bcrypt of the hex SHA-256 of the password.
    const hex = createHash("sha256").update("pw-bcrypt-django").digest("hex");
    const bcrypt = "bcrypt_sha256$" + (await Bun.password.hash(hex, { algorithm: "bcrypt", cost: 4 }));
    expect(await verifyPassword("pw-bcrypt-django", bcrypt)).toEqual({ ok: true, needsRehash: true });
    expect((await verifyPassword("wrong", bcrypt)).ok).toBe(false);
  });

  test("our own hashes: argon2id needs nothing, bcrypt is upgraded", async () => {
    const argon = await Bun.password.hash("native-pass", "argon2id");
    expect(await verifyPassword("native-pass", argon)).toEqual({ ok: true, needsRehash: false });
    const bcrypt = await Bun.password.hash("native-pass", { algorithm: "bcrypt", cost: 4 });
    expect(await verifyPassword("native-pass", bcrypt)).toEqual({ ok: true, needsRehash: true });
  });

  test("no hash, unusable, malformed and unknown formats never match and cost an argon2id verification", async () => {
    const argon = await Bun.password.hash("timing-reference", "argon2id");
    // The fastest of a few wrong-password argon2id checks: a load spike can only slow things down.
    let reference = Infinity;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await verifyPassword("wrong", argon);
      reference = Math.min(reference, performance.now() - t0);
    }
    for (const stored of [null, "", "!unusable", "md5$salt$abcdef", "pbkdf2_sha256$x$salt$hash", "pbkdf2_sha256$100$salt", "plaintext", "pbkdf2_sha256$999999999999$s$aGFzaA=="]) {
      const t = performance.now();
      expect(await verifyPassword("anything", stored)).toEqual({ ok: false, needsRehash: false });
      // Comparable: within a wide factor of one argon2id verification (no early return).
      expect(performance.now() - t).toBeGreaterThan(reference * 0.25);
    }
  });
});

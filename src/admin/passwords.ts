// Password verification for every hash format a user row can hold: our own argon2id (and bcrypt)
// through Bun.password, and the formats Django writes, so users imported from openway_access
// (`bun run cli import-openway`) log in with the passwords they have. Anything but argon2id is
// re-hashed by the caller after a successful login (needsRehash).
//
// Django's formats (django/contrib/auth/hashers.py):
//   pbkdf2_sha256$<iterations>$<salt>$<base64 of the derived key>   (the default), pbkdf2_sha1$…
//   argon2$argon2id$v=19$m=…,t=…,p=…$<salt>$<hash>                  ("argon2" + a PHC string)
//   bcrypt_sha256$$2b$<cost>$…                                      (bcrypt of the hex SHA-256)
//   !…                                                              (unusable: never matches)
// The salt is used as its UTF-8 bytes, the key length is the digest's; comparison is constant-time.
//
// A missing user, an unusable password and an unknown format cost one argon2id verification
// against a dummy hash, so a login answers in about the time a wrong argon2id password takes.
import { createHash, pbkdf2, randomBytes, timingSafeEqual } from "node:crypto";

export interface PasswordCheck {
  ok: boolean;
  /** The password matched a hash in a format other than argon2id: store a fresh argon2id hash. */
  needsRehash: boolean;
}

const DUMMY_HASH = await Bun.password.hash(randomBytes(24).toString("base64url"), "argon2id");
/** A hash from a database is trusted input, but an absurd iteration count must not stall a login. */
const MAX_PBKDF2_ITERATIONS = 20_000_000;
const PBKDF2_DIGESTS: Record<string, { digest: string; bytes: number }> = {
  pbkdf2_sha256: { digest: "sha256", bytes: 32 },
  pbkdf2_sha1: { digest: "sha1", bytes: 20 },
};

const NO: PasswordCheck = Object.freeze({ ok: false, needsRehash: false });

export async function verifyPassword(password: string, stored: string | null | undefined): Promise<PasswordCheck> {
  if (stored) {
    if (stored.startsWith("$argon2") || /^\$2[aby]?\$/.test(stored)) {
      const ok = await bunVerify(password, stored);
      return ok ? { ok, needsRehash: !stored.startsWith("$argon2id$") } : NO;
    }
    const algorithm = stored.slice(0, stored.indexOf("$"));
    const pbkdf = PBKDF2_DIGESTS[algorithm];
    if (pbkdf !== undefined) {
      const ok = await verifyDjangoPbkdf2(password, stored, pbkdf.digest, pbkdf.bytes);
      if (ok !== null) return ok ? { ok, needsRehash: true } : NO;
    } else if (algorithm === "argon2" && stored.startsWith("argon2$argon2")) {
      const ok = await bunVerify(password, stored.slice("argon2".length));
      return ok ? { ok, needsRehash: true } : NO;
    } else if (algorithm === "bcrypt_sha256" && /^bcrypt_sha256\$\$2[aby]?\$/.test(stored)) {
      const ok = await bunVerify(createHash("sha256").update(password, "utf8").digest("hex"), stored.slice("bcrypt_sha256$".length));
      return ok ? { ok, needsRehash: true } : NO;
    }
  }
  await bunVerify(password, DUMMY_HASH);
  return NO;
}

async function bunVerify(password: string, hash: string): Promise<boolean> {
  try {
    return await Bun.password.verify(password, hash);
  } catch {
    return false;
  }
}

/** true/false for a well-formed hash; null when it is malformed (treated as an unknown format). */
async function verifyDjangoPbkdf2(password: string, stored: string, digest: string, bytes: number): Promise<boolean | null> {
  const parts = stored.split("$");
  if (parts.length !== 4) return null;
  const [, iterText, salt, b64] = parts as [string, string, string, string];
  if (!/^[1-9]\d{0,8}$/.test(iterText) || salt.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return null;
  const iterations = Number(iterText);
  if (iterations > MAX_PBKDF2_ITERATIONS) return null;
  const expected = Buffer.from(b64, "base64");
  // Runs on the thread pool, not on the event loop (Django's default is ~10⁶ iterations).
  const derived = await new Promise<Buffer>((resolve, reject) =>
    pbkdf2(Buffer.from(password, "utf8"), Buffer.from(salt, "utf8"), iterations, bytes, digest, (e, key) => (e ? reject(e) : resolve(key))));
  return expected.length === derived.length && timingSafeEqual(expected, derived);
}

// The key the compat login and device tokens are derived with: COMPAT_TOKEN_KEY, or a key file
// generated once into DATA_DIR with mode 0600.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KEY_FILE, loadTokenKey, TokenKey } from "../../src/compat/token-key";
import { hashSecret } from "../../src/tokens";
import { startCompatService } from "./helpers";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "pcl-compat-key-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("token key", () => {
  test("derivation: 40 hex for logins, 64 for devices, stable per key and credential, different across both", () => {
    const k = TokenKey.of("k".repeat(40));
    expect(k.loginToken("c_1")).toMatch(/^[0-9a-f]{40}$/);
    expect(k.deviceToken("c_1")).toMatch(/^[0-9a-f]{64}$/);
    expect(k.loginToken("c_1")).toBe(TokenKey.of("k".repeat(40)).loginToken("c_1"));
    expect(k.loginToken("c_1")).not.toBe(k.loginToken("c_2"));
    expect(k.loginToken("c_1")).not.toBe(TokenKey.of("j".repeat(40)).loginToken("c_1"));
    expect(k.deviceToken("c_1").startsWith(k.loginToken("c_1"))).toBe(false);
  });

  test("COMPAT_TOKEN_KEY wins; without it a key file is made once (0600) and reused", () => {
    const dir = join(tmp(), "data");
    const fromEnv = loadTokenKey({ compatTokenKey: "e".repeat(32), dataDir: dir });
    expect(fromEnv.loginToken("c_x")).toBe(TokenKey.of("e".repeat(32)).loginToken("c_x"));
    expect(() => statSync(join(dir, KEY_FILE))).toThrow();

    const a = loadTokenKey({ compatTokenKey: null, dataDir: dir });
    const file = join(dir, KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8").trim()).toMatch(/^[0-9a-f]{64}$/);
    const b = loadTokenKey({ compatTokenKey: null, dataDir: dir });
    expect(b.loginToken("c_x")).toBe(a.loginToken("c_x"));
  });

  test("a key file readable by others is tightened to 0600; a short one is refused", () => {
    const dir = tmp();
    writeFileSync(join(dir, KEY_FILE), "s".repeat(40) + "\n", { mode: 0o644 });
    loadTokenKey({ compatTokenKey: null, dataDir: dir });
    expect(statSync(join(dir, KEY_FILE)).mode & 0o777).toBe(0o600);
    const short = tmp();
    writeFileSync(join(short, KEY_FILE), "short", { mode: 0o600 });
    expect(() => loadTokenKey({ compatTokenKey: null, dataDir: short })).toThrow(/at least 32/);
  });

  test("a service without COMPAT_TOKEN_KEY answers login tokens derived from the key file in DATA_DIR", async () => {
    const dir = tmp();
    const s = await startCompatService({ COMPAT_TOKEN_KEY: "", DATA_DIR: dir, EVENT_JOURNAL_DIR: join(dir, "journal") });
    try {
      await s.call("POST", "/api/v1/admin/users", { body: { username: "kim", password: "kim-password-1" } });
      const r = await s.compat("POST", "/api/v1/auth/token", { json: { username: "kim", password: "kim-password-1" } });
      expect(r.status).toBe(200);
      const [c] = await s.db.sql`select c.id, c.secret_hash from credentials c join users u on u.id = c.user_id where u.username = 'kim' and c.openway_role = 'login'`;
      const key = TokenKey.of(readFileSync(join(dir, KEY_FILE), "utf8").trim());
      expect(r.body.token).toBe(key.loginToken(c!.id));
      expect(hashSecret(r.body.token)).toBe(c!.secret_hash);
    } finally {
      await s.stop();
    }
  });

  test("configuration: COMPAT_TOKEN_KEY must be at least 32 characters", async () => {
    const { loadConfig } = await import("../../src/config");
    expect(() => loadConfig({ COMPAT_TOKEN_KEY: "short" })).toThrow(/COMPAT_TOKEN_KEY/);
    expect(loadConfig({ COMPAT_TOKEN_KEY: "x".repeat(32) }).compatTokenKey).toBe("x".repeat(32));
    expect(loadConfig({}).compatTokenKey).toBeNull();
  });
});

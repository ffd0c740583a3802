// Tokens the openway_access compatibility API hands out, without storing any of them.
//
// The original service answered "the same token on every login of that user until it is revoked"
// (a DRF token is one row per user, kept in plain text) and let `devices/register` with
// rotate=false answer the device's current token again. Portcullis stores only the SHA-256 of a
// secret, so it cannot look a token up to show it twice. Instead such a token is DERIVED:
//
//     login token  = first 40 hex digits of HMAC-SHA256(key, "openway-login:"  + credential id)
//     device token = the 64 hex digits of   HMAC-SHA256(key, "openway-device:" + credential id)
//
// The credential row stores SHA-256(token) like every other; verify never needs the key (it
// hashes what it is shown, as always). Login and register recompute the token from the key and
// the credential id and check it against the stored hash before answering it, so a credential
// whose token is not derivable (an imported DRF or device token: their plaintext stayed in
// Django) is never "shown" — the first compat login after an import issues a derived token
// beside it (the imported one keeps verifying until revoked), and a device whose token was
// imported gets a derived one at its first register.
//
// Why not store the tokens encrypted: the result would be the same (whoever holds the key and the
// database can produce the tokens) with one more column of secrets to guard and migrate. Why not a
// random token per login: that breaks "the same token on every login", which the Android app and
// the scripts rely on.
//
// The key: COMPAT_TOKEN_KEY, or when unset a random key generated once into
// DATA_DIR/openway-compat.key (mode 0600) and reused by every process that shares DATA_DIR. Hosts
// that do not share DATA_DIR must share COMPAT_TOKEN_KEY, or each would derive its own tokens.
// Losing or changing the key only means the next login/register issues new tokens; nothing that
// verifies today stops verifying.
import { createHmac, randomBytes } from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config";
import { log } from "../log";

export const KEY_FILE = "openway-compat.key";

export class TokenKey {
  private constructor(private readonly key: Buffer) {}

  static of(secret: string): TokenKey {
    return new TokenKey(Buffer.from(secret, "utf8"));
  }

  /** The 40-hex login token of a compat login credential. */
  loginToken(credentialId: string): string {
    return createHmac("sha256", this.key).update("openway-login:" + credentialId).digest("hex").slice(0, 40);
  }

  /** The 64-hex token of a device credential. */
  deviceToken(credentialId: string): string {
    return createHmac("sha256", this.key).update("openway-device:" + credentialId).digest("hex");
  }
}

/** COMPAT_TOKEN_KEY, or the key file in DATA_DIR (created with mode 0600 when missing). */
export function loadTokenKey(config: Pick<Config, "compatTokenKey" | "dataDir">): TokenKey {
  if (config.compatTokenKey) return TokenKey.of(config.compatTokenKey);
  const file = join(config.dataDir, KEY_FILE);
  let created = false;
  try {
    statSync(file);
  } catch {
    created = createKeyFile(config.dataDir, file);
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    chmodSync(file, 0o600);
    log.warn("openway compat: token key file was readable by others; set to 0600", { file });
  }
  const secret = readFileSync(file, "utf8").trim();
  if (secret.length < 32) throw new Error(`${file}: a token key needs at least 32 characters`);
  if (created) log.info("openway compat: generated a token key (set COMPAT_TOKEN_KEY to share one between hosts)", { file });
  return TokenKey.of(secret);
}

/** Writes a fresh key beside the target and links it into place: whoever links first wins. */
function createKeyFile(dir: string, file: string): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(tmp, randomBytes(32).toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  try {
    linkSync(tmp, file);
    return true;
  } catch (e: any) {
    if (e?.code !== "EEXIST") throw e;
    return false; // another process made it first; use theirs
  } finally {
    unlinkSync(tmp);
  }
}

// PINs of card + PIN gates, stored as HMAC-SHA256(per-credential random salt, PIN).
//
// Why not argon2id (Bun.password) as for passwords: a PIN is 4 to 8 digits — at most 10^8
// values. Whoever holds the database can try them all against any hash: at argon2id's ~50 ms that
// is minutes for a 4-digit PIN and days of one core (hours on a few machines) for 8 digits, so a
// slow hash does not make a stolen PIN hash safe; it would only put 50 ms of CPU on every PIN
// verify at the door (a cluster would open a few dozen PIN doors a second per core, and any
// client could burn that CPU on purpose). What protects a PIN is that (1) it is a second factor —
// useless without the card, whose secret is stored only as a SHA-256 of 256 random bits — and
// (2) online guessing is capped per credential: RATE_LIMIT_PIN wrong PINs (default 5 per 15 min)
// lock the credential out (`pin_locked`), so guessing a 4-digit PIN takes on average ~1000
// windows (~10 days) of a stolen card, each wrong try an access event. The salt makes every
// credential's hash different, so equal PINs do not show and no table is precomputed.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const PIN_PATTERN = "^[0-9]{4,8}$";
const PIN_RE = new RegExp(PIN_PATTERN);

export function hashPin(pin: string): string {
  const salt = randomBytes(16);
  return `hs256$${salt.toString("hex")}$${createHmac("sha256", salt).update(pin).digest("hex")}`;
}

/** Constant-time check of a presented PIN against the stored form. */
export function checkPin(stored: string, pin: string): boolean {
  if (!PIN_RE.test(pin)) return false;
  const [, saltHex, macHex] = stored.split("$");
  if (saltHex === undefined || macHex === undefined) return false;
  const mac = createHmac("sha256", Buffer.from(saltHex, "hex")).update(pin).digest();
  const want = Buffer.from(macHex, "hex");
  return want.length === mac.length && timingSafeEqual(mac, want);
}

// Secrets: a recognisable prefix (secret scanners find leaked ones) + 32 random bytes, base64url.
// Only the SHA-256 is ever stored or compared.
import { randomBytes } from "node:crypto";

export const TOKEN_PREFIX = "pcl_";

export function newSecret(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function hashSecret(secret: string): string {
  return Bun.SHA256.hash(secret, "hex") as unknown as string;
}

/** One buffer for secretDigest(): a verify hashes and looks up synchronously, then drops it. */
const DIGEST = new Uint8Array(32);

/**
 * The SHA-256 of a secret as its 32 bytes, in a buffer shared by every call: read it before the
 * next call (a verify's lookup does). Half the cost of hashSecret's hex, which the lookup would
 * only decode again.
 */
export function secretDigest(secret: string): Uint8Array {
  Bun.SHA256.hash(secret, DIGEST);
  return DIGEST;
}

/** The lowercase hex of a digest: what hashSecret() answers for the same secret. */
export function digestHex(d: Uint8Array): string {
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString("hex");
}

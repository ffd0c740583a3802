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

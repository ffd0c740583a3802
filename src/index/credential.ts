// A credential as the index keeps it: six slots instead of nine. A million credentials is the
// design's scale, and the budget is ~300 bytes each; kind, scopes and the two revocation flags
// pack into one small integer read back through getters (the JIT inlines them).
import type { CredentialKind, CredentialRec } from "./types";

const KINDS: CredentialKind[] = ["card", "pin", "api", "device", "session"];
const SCOPE_LISTS: readonly string[][] = [[], ["admin"], ["user"], ["admin", "user"]].map((l) => Object.freeze(l) as string[]);

const REVOKED = 1 << 3;
const DEVICE_REVOKED = 1 << 4;
const SCOPE_SHIFT = 5;

export class PackedCredential implements CredentialRec {
  private bits: number;

  constructor(
    public id: string,
    public userId: string,
    kind: CredentialKind,
    scopes: readonly string[],
    public secretHash: string,
    public expiresAt: number,
    public validFrom: number,
    revoked: boolean,
    deviceRevoked = false,
  ) {
    const k = KINDS.indexOf(kind);
    const s = (scopes.includes("admin") ? 1 : 0) | (scopes.includes("user") ? 2 : 0);
    this.bits = (k < 0 ? 0 : k) | (revoked ? REVOKED : 0) | (deviceRevoked ? DEVICE_REVOKED : 0) | (s << SCOPE_SHIFT);
  }

  get kind(): CredentialKind {
    return KINDS[this.bits & 7]!;
  }
  get scopes(): string[] {
    return SCOPE_LISTS[(this.bits >> SCOPE_SHIFT) & 3]!;
  }
  get revoked(): boolean {
    return (this.bits & REVOKED) !== 0;
  }
  set revoked(v: boolean) {
    this.bits = v ? this.bits | REVOKED : this.bits & ~REVOKED;
  }
  get deviceRevoked(): boolean {
    return (this.bits & DEVICE_REVOKED) !== 0;
  }
  set deviceRevoked(v: boolean) {
    this.bits = v ? this.bits | DEVICE_REVOKED : this.bits & ~DEVICE_REVOKED;
  }

  /** A plain-object copy (spreading an instance would drop the packed fields). */
  toJSON(): CredentialRec {
    return {
      id: this.id, userId: this.userId, kind: this.kind, scopes: this.scopes, secretHash: this.secretHash,
      expiresAt: this.expiresAt, validFrom: this.validFrom, revoked: this.revoked, deviceRevoked: this.deviceRevoked,
    };
  }
}

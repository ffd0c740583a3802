// The compact layout: the string tables, and an index moved between threads as buffers.
import { describe, expect, test } from "bun:test";
import { BoundsPool } from "../../src/index/columns";
import { DigestTable } from "../../src/index/digest-table";
import { KeyTable } from "../../src/index/key-table";
import { transferables } from "../../src/index/index-parts";
import { PermissionIndex } from "../../src/index/permission-index";
import { digestHex, hashSecret, secretDigest } from "../../src/tokens";
import { prng } from "./helpers";
import { Model } from "./model";

describe("KeyTable", () => {
  test("interns, finds and deletes ASCII, non-ASCII and hex-digest keys across growth", () => {
    const t = KeyTable.create(0, 8);
    const digest = (i: number) => new Bun.CryptoHasher("sha256").update(String(i)).digest("hex");
    const keys = Array.from({ length: 5000 }, (_, i) => (i % 3 === 0 ? digest(i) : i % 3 === 1 ? `id_${i}` : `üser-${i}-ß`));
    const entries = keys.map((k) => t.intern(k));
    expect(new Set(entries).size).toBe(keys.length);
    keys.forEach((k, i) => {
      expect(t.find(k)).toBe(entries[i]!);
      expect(t.intern(k)).toBe(entries[i]!);
      expect(t.key(entries[i]!)).toBe(k);
    });
    expect(t.find(digest(1).toUpperCase())).toBe(-1);
    expect(t.find("id_")).toBe(-1);
    for (let i = 0; i < keys.length; i += 2) expect(t.delete(keys[i]!)).toBe(true);
    expect(t.delete(keys[0]!)).toBe(false);
    keys.forEach((k, i) => expect(t.find(k) >= 0).toBe(i % 2 === 1));
    expect(t.live).toBe(2500);
    // A deleted key comes back as a new entry.
    const again = t.intern(keys[0]!);
    expect(again).toBeGreaterThanOrEqual(keys.length);
    expect(t.find(keys[0]!)).toBe(again);
  });
});

describe("KeyTable's encoding", () => {
  test("prefix + hex ids pack to their nibbles; odd tails, hex-only keys, many prefixes and lookalikes stay distinct", () => {
    const t = KeyTable.create(0, 8);
    const keys = [
      "gr_0192a3b4c5d6e7f80123456789abcdef", "gr_0192a3b4c5d6e7f80123456789abcde", "gr_0192a3b4c5d6e7f80123456789abcdeF",
      "u_bench_000000001", "u_bench_00000001", "u_bench_0000000010", "c1", "1c", "c", "", "ab", "0ab", "00ab", "gr_", "gr_0",
      "x_00", "x_000", "x_0", "GATE_000000001", "gate_000000001", "zz", "ü_00ff", "a-b_00", "a-b_0a",
      ...Array.from({ length: 300 }, (_, i) => `p${"q".repeat(i % 40)}${i}_x_${(i * 7919).toString(16)}`),
    ];
    const entries = keys.map((k) => t.intern(k));
    expect(new Set(entries).size).toBe(keys.length);
    keys.forEach((k, i) => {
      expect(t.key(entries[i]!)).toBe(k);
      expect(t.find(k)).toBe(entries[i]!);
    });
    for (const k of ["gr_0192A3B4C5D6E7F80123456789ABCDEF", "u_bench_0000000001", "u_bench_", "x_", "d1", "p0_x_", "GATE_000000002"]) expect(t.find(k)).toBe(-1);
    // "gr_" + 32 hex digits is 1 + 16 bytes; "u_bench_000000001" 1 + 5.
    const u = KeyTable.create(0, 8);
    u.intern("gr_0192a3b4c5d6e7f80123456789abcdef");
    u.intern("u_bench_000000001");
    expect(u.bytes).toBe(17 + 6);
  });

  test("an index moved as parts keeps finding keys with the prefixes it learned", () => {
    const t = KeyTable.create(0, 8);
    for (let i = 0; i < 1000; i++) t.intern(`k${i % 7}_${i.toString(16)}`);
    const moved = new KeyTable(structuredClone(t.parts()));
    for (let i = 0; i < 1000; i++) expect(moved.find(`k${i % 7}_${i.toString(16)}`)).toBe(i);
    expect(moved.intern("k3_ffff")).toBe(1000);
    expect(moved.key(1000)).toBe("k3_ffff");
  });
});

describe("DigestTable", () => {
  const digest = (i: number) => new Bun.CryptoHasher("sha256").update(String(i)).digest("hex");
  test("digests and other strings map to credentials across growth; a hash given to another credential moves", () => {
    const t = DigestTable.create(4);
    const n = 3000;
    for (let c = 0; c < n; c++) t.set(c, c % 5 === 0 ? `raw-${c}` : digest(c));
    expect(t.size).toBe(n);
    for (let c = 0; c < n; c++) {
      const h = c % 5 === 0 ? `raw-${c}` : digest(c);
      expect(t.find(h)).toBe(c);
      expect(t.hashOf(c)).toBe(h);
    }
    expect(t.find(digest(1).toUpperCase())).toBe(-1);
    expect(t.find(digest(n + 1))).toBe(-1);
    // Moves: credential 1's digest to credential 2 (2 loses its own), a raw hash likewise.
    t.set(2, digest(1));
    expect(t.find(digest(1))).toBe(2);
    expect(t.has(1)).toBe(false);
    expect(t.hashOf(1)).toBe("");
    expect(t.find(digest(2))).toBe(-1);
    t.set(6, "raw-5");
    expect(t.find("raw-5")).toBe(6);
    expect(t.has(5)).toBe(false);
    for (let c = 10; c < n; c += 2) t.remove(c);
    for (let c = 10; c < n; c++) expect(t.find(c % 5 === 0 ? `raw-${c}` : digest(c))).toBe(c % 2 === 0 ? -1 : c);
    const moved = new DigestTable(structuredClone(t.parts()));
    expect(moved.find(digest(1))).toBe(2);
    expect(moved.find("raw-5")).toBe(6);
    expect(moved.size).toBe(t.size);
  });

  test("findDigest(bytes) answers what find(hex) does, across growth, moves, removals and tombstones", () => {
    const t = DigestTable.create(4);
    const n = 3000;
    const bytes = (i: number) => new Bun.CryptoHasher("sha256").update(String(i)).digest() as Uint8Array;
    for (let c = 0; c < n; c++) t.set(c, c % 7 === 0 ? `raw-${c}` : digest(c));
    t.set(2, digest(1));
    for (let c = 10; c < n; c += 3) t.remove(c);
    for (let i = 0; i < n + 50; i++) expect({ i, c: t.findDigest(bytes(i)) }).toEqual({ i, c: t.find(digest(i)) });
  });
});

describe("BoundsPool", () => {
  test("open bounds are index 0; a changed pair is appended and counted as garbage", () => {
    const p = BoundsPool.empty(1);
    expect(p.add(-Infinity, Infinity)).toBe(0);
    const a = p.add(5, Infinity), b = p.add(-Infinity, 9);
    expect([p.from(a), p.until(a), p.from(b), p.until(b), p.from(0), p.until(0)]).toEqual([5, Infinity, -Infinity, 9, -Infinity, Infinity]);
    expect(p.replace(a, 5, Infinity)).toBe(a);
    const c = p.replace(a, 6, 7);
    expect([p.from(c), p.until(c), p.garbage]).toEqual([6, 7, 1]);
    expect(p.replace(c, -Infinity, Infinity)).toBe(0);
  });
});

describe("an index as transferable parts", () => {
  test("an index rebuilt from its structured-cloned buffers decides like the original, and takes updates", () => {
    for (let seed = 1; seed <= 6; seed++) {
      const r = prng(seed * 31337);
      const m = new Model(r);
      m.seed();
      for (let i = 0; i < 20; i++) m.randomOp();
      const original = PermissionIndex.fromSnapshot(m.snapshot(3));
      const parts = original.toParts();
      expect(transferables(parts).length).toBeGreaterThan(10);
      const moved = PermissionIndex.fromParts(structuredClone(parts));
      const check = (a: PermissionIndex, b: PermissionIndex) => {
        const at = m.instant();
        for (const h of [...m.everHashes, "never-issued"]) for (const g of [...m.everGates, "NO_SUCH_GATE"]) {
          expect({ seed, h, g, d: a.decide(h, g, at) }).toEqual({ seed, h, g, d: b.decide(h, g, at) });
        }
      };
      check(moved, original);
      for (let i = 0; i < 10; i++) m.randomOp();
      const cs = m.changeSet(4);
      moved.apply(cs);
      check(moved, PermissionIndex.fromSnapshot(m.snapshot(4)));
      expect(moved.counts()).toEqual(PermissionIndex.fromSnapshot(m.snapshot(4)).counts());
    }
  });
});

describe("a decision from the digest's bytes", () => {
  test("decideDigest(secretDigest(s)) decides exactly like decide(hashSecret(s)), every reason, stale gates included", () => {
    for (let seed = 1; seed <= 6; seed++) {
      const r = prng(seed * 7919);
      const m = new Model(r);
      m.seed();
      for (let i = 0; i < 30; i++) m.randomOp();
      // The model's hashes are plain strings; here each credential holds the SHA-256 hex of its own, as in the service.
      const snap = m.snapshot(3);
      snap.credentials = snap.credentials.map((c) => ({ ...c, secretHash: hashSecret(c.secretHash) }));
      const ix = PermissionIndex.fromSnapshot(snap);
      const reasons = new Set<string>();
      for (const at of [m.instant(), m.instant(), m.instant()]) for (const age of [0, 1000, 6000]) {
        for (const s of [...m.everHashes, "never-issued"]) for (const g of [...m.everGates, "NO_SUCH_GATE"]) {
          const a = ix.decideDigest(secretDigest(s), g, at, age), b = ix.decide(hashSecret(s), g, at, age);
          reasons.add(b.reason);
          expect({ seed, s, g, at, age, d: a }).toEqual({ seed, s, g, at, age, d: b });
        }
      }
      expect(reasons.size).toBeGreaterThan(3);
      expect(digestHex(secretDigest("x"))).toBe(hashSecret("x"));
    }
  });
});

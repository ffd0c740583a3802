// The compact layout: the string tables, and an index moved between threads as buffers.
import { describe, expect, test } from "bun:test";
import { KeyTable } from "../../src/index/key-table";
import { PermissionIndex, transferables } from "../../src/index/permission-index";
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

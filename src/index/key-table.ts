// Strings interned to integers once, in an open-addressed hash table over typed arrays: the keys'
// bytes live in one arena, so a million ids or secret digests are a handful of blocks for the
// garbage collector, not a million strings. SHA-256 hex digests (64 lowercase hex characters) are
// stored as their 32 bytes. Entries are numbered in insertion order and never move; a deleted
// key leaves its entry behind as garbage until the next full build.
import { grown, roomFor } from "./columns";

const EMPTY = -1;
const TOMBSTONE = -2;
const PACKED = 0x80000000; // len flag: the key is a 64-character hex digest stored as 32 bytes

const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX["0123456789abcdef".charCodeAt(i)] = i;

export interface KeyTableParts {
  arena: Uint8Array;
  off: Uint32Array;
  len: Uint32Array;
  hash: Int32Array;
  slots: Int32Array;
  count: number;
  bytes: number;
  live: number;
  tombstones: number;
}

// The hash reads at most 24 characters — the first 8 and the last 16 — plus the length: ids are a
// prefix and a unique (random or counting) tail, digests are random throughout.
function hashOf(s: string): number {
  const n = s.length;
  let h = Math.imul(0x811c9dc5 ^ n, 0x01000193);
  if (n <= 24) for (let i = 0; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  else {
    for (let i = 0; i < 8; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    for (let i = n - 16; i < n; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  return (h ^ (h >>> 15)) | 0;
}

function isHexDigest(s: string): boolean {
  if (s.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || HEX[c]! < 0) return false;
  }
  return true;
}

/** Slots for `keys` keys at a load of at most 3/4 (linear probing stays short up to there). */
function slotsFor(keys: number): number {
  let n = 16;
  while (n * 3 < keys * 4) n *= 2;
  return n;
}

export class KeyTable {
  arena: Buffer;
  off: Uint32Array;
  len: Uint32Array;
  hash: Int32Array;
  slots: Int32Array;
  /** Entries ever added (live and deleted). */
  count: number;
  bytes: number;
  /** Keys currently findable. */
  live: number;
  tombstones: number;

  constructor(p: KeyTableParts) {
    this.arena = Buffer.from(p.arena.buffer, p.arena.byteOffset, p.arena.byteLength);
    this.off = p.off;
    this.len = p.len;
    this.hash = p.hash;
    this.slots = p.slots;
    this.count = p.count;
    this.bytes = p.bytes;
    this.live = p.live;
    this.tombstones = p.tombstones;
  }

  /** A table with room for `keys` keys of about `bytesPerKey` bytes (it grows beyond). */
  static create(keys: number, bytesPerKey: number): KeyTable {
    const cap = Math.max(16, keys);
    return new KeyTable({
      arena: new Uint8Array(cap * bytesPerKey + 1024), off: new Uint32Array(cap), len: new Uint32Array(cap),
      hash: new Int32Array(cap), slots: new Int32Array(slotsFor(cap)).fill(EMPTY), count: 0, bytes: 0, live: 0, tombstones: 0,
    });
  }

  parts(): KeyTableParts {
    const { arena, off, len, hash, slots, count, bytes, live, tombstones } = this;
    return { arena, off, len, hash, slots, count, bytes, live, tombstones };
  }

  /** The entry of `s`, or -1. */
  find(s: string): number {
    const h = hashOf(s);
    const slots = this.slots, mask = slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = slots[i]!;
      if (e === EMPTY) return -1;
      if (e >= 0 && this.hash[e] === h && this.equals(e, s)) return e;
    }
  }

  /** The entry of `s`, added if absent. */
  intern(s: string): number {
    const h = hashOf(s);
    const slots = this.slots, mask = slots.length - 1;
    let free = -1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = slots[i]!;
      if (e === EMPTY) {
        if (free < 0) free = i;
        break;
      }
      if (e === TOMBSTONE) {
        if (free < 0) free = i;
      } else if (this.hash[e] === h && this.equals(e, s)) return e;
    }
    if (slots[free] === TOMBSTONE) this.tombstones--;
    const e = this.append(s, h);
    this.slots[free] = e;
    this.live++;
    if ((this.live + this.tombstones) * 4 > this.slots.length * 3) this.rehash();
    return e;
  }

  /** Makes `s` unfindable; its entry number is not reused. */
  delete(s: string): boolean {
    const h = hashOf(s);
    const slots = this.slots, mask = slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = slots[i]!;
      if (e === EMPTY) return false;
      if (e >= 0 && this.hash[e] === h && this.equals(e, s)) {
        slots[i] = TOMBSTONE;
        this.live--;
        this.tombstones++;
        return true;
      }
    }
  }

  /** Shrinks the arena to what is used plus headroom (after a build sized it by a guess). */
  trim(): void {
    const size = roomFor(this.bytes);
    if (size >= this.arena.length) return;
    const next = Buffer.alloc(size);
    this.arena.copy(next, 0, 0, this.bytes);
    this.arena = next;
  }

  key(e: number): string {
    const o = this.off[e]!, n = this.len[e]!;
    if ((n & PACKED) !== 0) return this.arena.toString("hex", o, o + 32);
    return this.arena.toString("utf8", o, o + n);
  }

  /** Entries added beyond the findable keys (deleted keys), and the slots' tombstones. */
  get garbage(): number {
    return this.count - this.live + this.tombstones;
  }

  private equals(e: number, s: string): boolean {
    const o = this.off[e]!, n = this.len[e]!, a = this.arena;
    if ((n & PACKED) !== 0) {
      if (s.length !== 64) return false;
      for (let i = 0; i < 32; i++) {
        const hi = s.charCodeAt(2 * i), lo = s.charCodeAt(2 * i + 1);
        if (hi > 127 || lo > 127) return false;
        if (((HEX[hi]! << 4) | HEX[lo]!) !== a[o + i]) return false; // (a non-hex character makes it negative)
      }
      return true;
    }
    if (s.length === n) {
      let ascii = true;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 127) {
          ascii = false;
          break;
        }
        if (c !== a[o + i]) return false;
      }
      if (ascii) return true;
    }
    // Non-ASCII: compare UTF-8 bytes.
    const b = Buffer.from(s, "utf8");
    return b.length === n && b.equals(a.subarray(o, o + n));
  }

  private room(extraBytes: number): void {
    if (this.count >= this.off.length) {
      const cap = roomFor(this.count + 1 + (this.count >> 1));
      this.off = grown(this.off, cap);
      this.len = grown(this.len, cap);
      this.hash = grown(this.hash, cap);
    }
    if (this.bytes + extraBytes > this.arena.length) {
      const next = Buffer.alloc(roomFor(this.bytes + extraBytes + (this.arena.length >> 1)));
      this.arena.copy(next, 0, 0, this.bytes);
      this.arena = next;
    }
  }

  private append(s: string, h: number): number {
    const packed = isHexDigest(s);
    this.room(packed ? 32 : s.length * 3);
    const e = this.count++;
    this.off[e] = this.bytes;
    this.hash[e] = h;
    if (packed) {
      this.arena.write(s, this.bytes, "hex");
      this.len[e] = 32 | PACKED;
      this.bytes += 32;
    } else {
      const n = this.arena.write(s, this.bytes, "utf8");
      this.len[e] = n;
      this.bytes += n;
    }
    return e;
  }

  private rehash(): void {
    const old = this.slots;
    const slots = new Int32Array(slotsFor(roomFor(this.live))).fill(EMPTY);
    const mask = slots.length - 1;
    for (let i = 0; i < old.length; i++) {
      const e = old[i]!;
      if (e < 0) continue;
      let j = this.hash[e]! & mask;
      while (slots[j] !== EMPTY) j = (j + 1) & mask;
      slots[j] = e;
    }
    this.slots = slots;
    this.tombstones = 0;
  }
}

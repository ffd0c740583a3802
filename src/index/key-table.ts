// Strings interned to integers once, in an open-addressed hash table over typed arrays: the keys'
// bytes live in one arena, so a million ids are a handful of blocks for the garbage collector,
// not a million strings. Entries are numbered in insertion order and never move; a deleted key
// leaves its entry behind as garbage until the next full build.
//
// Keys are stored encoded, and small: the service's ids are a prefix and a lowercase hex tail
// (pcl_id: "gr_" + 28 hex digits; the bench's "c_bench_000000001"), so an entry is one tag byte
// (which prefix — kept once in a short list — and whether the tail has an odd length) and the
// tail's nibbles, half its characters. Any other key is stored as UTF-8 behind a RAW tag. An
// entry's length is the distance to the next entry's offset, and the hash is recomputed from the
// bytes when the slots are resized: no per-entry length or hash column.
import { grown, roomFor } from "./columns";

const EMPTY = -1;
const TOMBSTONE = -2;
const RAW = 0xfe;
/** Tags 0…253 are prefix × 2 + odd. */
const MAX_PREFIXES = 127;
const MAX_PREFIX_CHARS = 32;
/** A shorter tail is not worth a prefix entry. */
const MIN_TAIL = 2;

/** Nibble of a lowercase hex character, -1 otherwise (uppercase is not: a key is kept as given). */
export const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX["0123456789abcdef".charCodeAt(i)] = i;

export interface KeyTableParts {
  arena: Uint8Array;
  /** Entry e's bytes are arena[off[e], off[e + 1]); off has count + 1 entries in use. */
  off: Uint32Array;
  slots: Int32Array;
  prefixes: string[];
  count: number;
  live: number;
  tombstones: number;
}

/** FNV-1a over the bytes, finished with murmur3's mixer (the slot is taken from the high bits). */
function hashBytes(a: Uint8Array, o: number, n: number): number {
  let h = 0x811c9dc5 ^ n;
  for (let i = o, end = o + n; i < end; i++) h = Math.imul(h ^ a[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Slot of hash `h` in a table of `n` slots (multiply-shift: any n, no power of two needed). */
export function slotOf(h: number, n: number): number {
  return Math.floor(((h >>> 11) * n) / 2097152);
}

/** Slots for `keys` keys: a load of 2/3 (linear probing stays short); the table grows past 4/5. */
export function slotsFor(keys: number): number {
  return Math.ceil(keys * 1.5) + 16;
}

export class KeyTable {
  arena: Buffer;
  off: Uint32Array;
  slots: Int32Array;
  prefixes: string[];
  private readonly prefixIx = new Map<string, number>();
  /** Entries ever added (live and deleted). */
  count: number;
  /** Keys currently findable. */
  live: number;
  tombstones: number;
  private scratch = Buffer.alloc(256);
  /** Plain Uint8Array views of the arena and the scratch (the JIT reads those faster than a Buffer). */
  private a: Uint8Array;
  private b = new Uint8Array(this.scratch.buffer, this.scratch.byteOffset, this.scratch.byteLength);
  private lastPrefix = "\u0000"; // (no key's prefix: a tail is hex)
  private lastP = -1;
  /** Outputs of probe(). */
  private at = -1;
  private free = -1;

  constructor(p: KeyTableParts) {
    this.arena = Buffer.from(p.arena.buffer, p.arena.byteOffset, p.arena.byteLength);
    this.a = p.arena;
    this.off = p.off;
    this.slots = p.slots;
    this.prefixes = p.prefixes;
    this.prefixes.forEach((x, i) => this.prefixIx.set(x, i));
    this.count = p.count;
    this.live = p.live;
    this.tombstones = p.tombstones;
  }

  /** A table with room for `keys` keys of about `bytesPerKey` bytes encoded (it grows beyond). */
  static create(keys: number, bytesPerKey: number): KeyTable {
    const cap = Math.max(16, keys);
    return new KeyTable({
      arena: new Uint8Array(cap * bytesPerKey + 1024), off: new Uint32Array(cap + 1), slots: new Int32Array(slotsFor(cap)).fill(EMPTY),
      prefixes: [], count: 0, live: 0, tombstones: 0,
    });
  }

  parts(): KeyTableParts {
    const { arena, off, slots, prefixes, count, live, tombstones } = this;
    return { arena, off, slots, prefixes, count, live, tombstones };
  }

  /** Bytes of the arena in use. */
  get bytes(): number {
    return this.off[this.count]!;
  }

  /** The entry of `s`, or -1. */
  find(s: string): number {
    const n = this.encode(s, false);
    return n < 0 ? -1 : this.probe(n, hashBytes(this.b, 0, n));
  }

  /** The entry of `s`, added if absent. */
  intern(s: string): number {
    const n = this.encode(s, true);
    const h = hashBytes(this.b, 0, n);
    const entry = this.probe(n, h);
    if (entry >= 0) return entry;
    const free = this.free;
    if (this.slots[free] === TOMBSTONE) this.tombstones--;
    const e = this.append(n);
    this.slots[free] = e;
    this.live++;
    if ((this.live + this.tombstones) * 5 > this.slots.length * 4) this.rehash();
    return e;
  }

  /**
   * intern() for a key the caller knows is absent (a primary key of a consistent snapshot, added
   * once): no comparison on the way to a free slot — a bulk load's inserts cost one slot probe.
   */
  add(s: string): number {
    const n = this.encode(s, true);
    const slots = this.slots, len = slots.length;
    let i = slotOf(hashBytes(this.b, 0, n), len);
    while (slots[i]! >= 0) i = i + 1 === len ? 0 : i + 1;
    if (slots[i] === TOMBSTONE) this.tombstones--;
    const e = this.append(n);
    slots[i] = e;
    this.live++;
    if ((this.live + this.tombstones) * 5 > this.slots.length * 4) this.rehash();
    return e;
  }

  /** Makes `s` unfindable; its entry number is not reused. */
  delete(s: string): boolean {
    const n = this.encode(s, false);
    if (n < 0) return false;
    if (this.probe(n, hashBytes(this.b, 0, n)) < 0) return false;
    this.slots[this.at] = TOMBSTONE;
    this.live--;
    this.tombstones++;
    return true;
  }

  /** Shrinks the arena and offsets to what is used plus a little headroom (after a build sized them by a guess). */
  trim(): void {
    const size = roomFor(this.bytes);
    if (size < this.arena.length) {
      const next = Buffer.alloc(size);
      this.arena.copy(next, 0, 0, this.bytes);
      this.setArena(next);
    }
    const entries = roomFor(this.count) + 1;
    if (entries < this.off.length) this.off = this.off.slice(0, entries);
    // Slots sized by an estimate that was high are resized to the keys there are.
    if (this.slots.length > slotsFor(roomFor(this.live)) * 1.25) this.rehash();
  }

  key(e: number): string {
    const o = this.off[e]!, end = this.off[e + 1]!, a = this.arena;
    const tag = a[o]!;
    if (tag === RAW) return a.toString("utf8", o + 1, end);
    const tail = a.toString("hex", o + 1, end);
    return this.prefixes[tag >> 1]! + ((tag & 1) === 1 ? tail.slice(1) : tail);
  }

  /** Entries added beyond the findable keys (deleted keys), and the slots' tombstones. */
  get garbage(): number {
    return this.count - this.live + this.tombstones;
  }

  /**
   * Writes the encoded key into the scratch buffer; answers its length, or -1 when `add` is false
   * and the key cannot be in the table (its prefix was never seen, and would have been).
   */
  private encode(s: string, add: boolean): number {
    const n = s.length;
    if (this.scratch.length < n * 3 + 1) {
      this.scratch = Buffer.alloc(n * 3 + 64);
      this.b = new Uint8Array(this.scratch.buffer, this.scratch.byteOffset, this.scratch.byteLength);
    }
    const b = this.b;
    let i = n;
    while (i > 0) {
      const c = s.charCodeAt(i - 1);
      if (c > 127 || HEX[c]! < 0) break;
      i--;
    }
    const tail = n - i;
    if (tail >= MIN_TAIL && i <= MAX_PREFIX_CHARS) {
      // (Keys come in runs of one prefix: the last one is checked before the Map.)
      let p: number | undefined;
      if (i === this.lastPrefix.length && s.startsWith(this.lastPrefix)) p = this.lastP;
      else {
        const prefix = i === 0 ? "" : s.slice(0, i);
        p = this.prefixIx.get(prefix);
        if (p !== undefined) {
          this.lastPrefix = prefix;
          this.lastP = p;
        }
      }
      if (p === undefined && this.prefixes.length < MAX_PREFIXES) {
        const prefix = i === 0 ? "" : s.slice(0, i);
        if (!add) return -1;
        p = this.prefixes.length;
        this.prefixes.push(prefix);
        this.prefixIx.set(prefix, p);
      }
      if (p !== undefined) {
        const odd = tail & 1;
        b[0] = p * 2 + odd;
        let k = 1, j = i;
        if (odd === 1) b[k++] = HEX[s.charCodeAt(j++)]!;
        for (; j < n; j += 2) b[k++] = (HEX[s.charCodeAt(j)]! << 4) | HEX[s.charCodeAt(j + 1)]!;
        return k;
      }
    }
    b[0] = RAW;
    return 1 + this.scratch.write(s, 1, "utf8");
  }

  /** Looks the scratch key up: its entry (its slot in `at`), or -1 (the first free slot on its path in `free`). */
  private probe(n: number, h: number): number {
    const slots = this.slots, len = slots.length, off = this.off, a = this.a, b = this.b;
    let free = -1;
    for (let i = slotOf(h, len); ; i = i + 1 === len ? 0 : i + 1) {
      const e = slots[i]!;
      if (e === EMPTY) {
        this.free = free < 0 ? i : free;
        return -1;
      }
      if (e === TOMBSTONE) {
        if (free < 0) free = i;
        continue;
      }
      const o = off[e]!;
      if (off[e + 1]! - o !== n) continue;
      let k = 0;
      while (k < n && a[o + k] === b[k]) k++;
      if (k === n) {
        this.at = i;
        return e;
      }
    }
  }

  private setArena(next: Buffer): void {
    this.arena = next;
    this.a = new Uint8Array(next.buffer, next.byteOffset, next.byteLength);
  }

  private append(n: number): number {
    if (this.count + 2 > this.off.length) this.off = grown(this.off, roomFor(this.count + 2 + (this.count >> 1)));
    const at = this.bytes;
    if (at + n > this.arena.length) {
      const next = Buffer.alloc(roomFor(at + n + (this.arena.length >> 1)));
      this.arena.copy(next, 0, 0, at);
      this.setArena(next);
    }
    this.scratch.copy(this.arena, at, 0, n);
    const e = this.count++;
    this.off[e + 1] = at + n;
    return e;
  }

  private rehash(): void {
    const old = this.slots;
    const slots = new Int32Array(slotsFor(roomFor(this.live))).fill(EMPTY);
    const len = slots.length, off = this.off, a = this.a;
    for (let i = 0; i < old.length; i++) {
      const e = old[i]!;
      if (e < 0) continue;
      let j = slotOf(hashBytes(a, off[e]!, off[e + 1]! - off[e]!), len);
      while (slots[j] !== EMPTY) j = j + 1 === len ? 0 : j + 1;
      slots[j] = e;
    }
    this.slots = slots;
    this.tombstones = 0;
  }
}

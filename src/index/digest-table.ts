// Secret hash → credential number: the one lookup every verify starts with. A SHA-256 hex digest
// (64 lowercase hex characters, what the database holds) is kept as its 32 bytes in a column
// indexed by credential number, and the open-addressed slots hold credential numbers directly —
// no key table, no entry numbers, no per-entry offset or hash: the slot is taken from the
// digest's own first bytes (uniformly random). Any other string (tests, tools) goes to a small
// Map beside it. At most one credential holds a hash: mapping it to another takes it from the first.
import { grown, roomFor } from "./columns";
import { HEX, slotOf, slotsFor } from "./key-table";

const EMPTY = -1;
const TOMBSTONE = -2;
const NONE = 0, DIGEST = 1, RAW = 2;

export interface DigestTableParts {
  /** 32 bytes per credential. */
  digests: Uint8Array;
  /** Per credential: 0 no hash, 1 its digest is in `digests`, 2 its hash is in `raw`. */
  state: Uint8Array;
  slots: Int32Array;
  live: number;
  tombstones: number;
  raw: Array<[hash: string, credential: number]>;
}

function isHexDigest(s: string): boolean {
  if (s.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || HEX[c]! < 0) return false;
  }
  return true;
}

/** The hash of a digest from its first 8 bytes (mixed, so crafted digests cannot pile up on one slot easily). */
function mix(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x9e3779b1)) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hash of hex characters at…at+15 of `s`, or -1 if one of them is not lowercase hex. */
function hashOfHex(s: string, at = 0): number {
  let a = 0, b = 0;
  for (let i = at; i < at + 8; i++) {
    const c = s.charCodeAt(i), d = s.charCodeAt(i + 8);
    if (c > 127 || d > 127) return -1;
    const x = HEX[c]!, y = HEX[d]!;
    if ((x | y) < 0) return -1;
    a = (a << 4) | x;
    b = (b << 4) | y;
  }
  return mix(a, b);
}

export class DigestTable {
  digests: Buffer;
  /** The same bytes as a plain Uint8Array (the JIT reads those faster than a Buffer). */
  private d: Uint8Array;
  state: Uint8Array;
  slots: Int32Array;
  live: number;
  tombstones: number;
  private readonly raw = new Map<string, number>();
  private readonly rawOf = new Map<number, string>();

  constructor(p: DigestTableParts) {
    this.digests = Buffer.from(p.digests.buffer, p.digests.byteOffset, p.digests.byteLength);
    this.d = new Uint8Array(p.digests.buffer, p.digests.byteOffset, p.digests.byteLength);
    this.state = p.state;
    this.slots = p.slots;
    this.live = p.live;
    this.tombstones = p.tombstones;
    for (const [h, c] of p.raw) {
      this.raw.set(h, c);
      this.rawOf.set(c, h);
    }
  }

  static create(credentials: number): DigestTable {
    const n = Math.max(16, credentials);
    return new DigestTable({
      digests: new Uint8Array(n * 32), state: new Uint8Array(n), slots: new Int32Array(slotsFor(n)).fill(EMPTY), live: 0, tombstones: 0, raw: [],
    });
  }

  parts(): DigestTableParts {
    const { digests, state, slots, live, tombstones } = this;
    return { digests, state, slots, live, tombstones, raw: [...this.raw] };
  }

  /** Hashes currently findable. */
  get size(): number {
    return this.live + this.raw.size;
  }

  /** The credential holding hash `h`, or -1. */
  find(h: string): number {
    if (h.length === 64) {
      const x = hashOfHex(h);
      if (x >= 0) {
        const c = this.probe(h, x, 0);
        if (c >= 0 || this.raw.size === 0) return c;
      }
    }
    return this.raw.size === 0 ? -1 : (this.raw.get(h) ?? -1);
  }

  /**
   * find() for a digest as its 32 bytes: the same answer as find() of its hex (a hex digest is
   * never in `raw`, which holds only strings that are not one).
   */
  findDigest(h: Uint8Array): number {
    const slots = this.slots, len = slots.length, d = this.d;
    const x = mix(((h[0]! << 24) | (h[1]! << 16) | (h[2]! << 8) | h[3]!) >>> 0, ((h[4]! << 24) | (h[5]! << 16) | (h[6]! << 8) | h[7]!) >>> 0);
    for (let i = slotOf(x, len); ; i = i + 1 === len ? 0 : i + 1) {
      const c = slots[i]!;
      if (c === EMPTY) return -1;
      if (c === TOMBSTONE) continue;
      const o = c * 32;
      let k = 0;
      while (k < 32 && h[k] === d[o + k]) k++;
      if (k === 32) return c;
    }
  }

  /** Whether credential `c` holds a hash. */
  has(c: number): boolean {
    return c < this.state.length && this.state[c] !== NONE;
  }

  /** The hash credential `c` holds ("" when none). */
  hashOf(c: number): string {
    const s = c < this.state.length ? this.state[c] : NONE;
    if (s === DIGEST) return this.digests.toString("hex", c * 32, c * 32 + 32);
    return s === RAW ? this.rawOf.get(c)! : "";
  }

  /** Room for credential numbers below `n`. */
  ensure(n: number): void {
    if (n <= this.state.length) return;
    const cap = roomFor(n + (n >> 1));
    const d = Buffer.alloc(cap * 32);
    this.digests.copy(d);
    this.digests = d;
    this.d = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    this.state = grown(this.state, cap);
  }

  /** Shrinks the columns to credential numbers below `n` plus headroom, and oversized slots (after a build sized them by an estimate). */
  trim(n: number): void {
    const cap = roomFor(n);
    if (cap < this.state.length) {
      const d = Buffer.alloc(cap * 32);
      this.digests.copy(d, 0, 0, cap * 32);
      this.digests = d;
      this.d = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      this.state = this.state.slice(0, cap);
    }
    if (this.slots.length > slotsFor(roomFor(this.live)) * 1.25) this.rehash();
  }

  /** Gives hash `h` to credential `c` (dropping the one `c` held); a credential that held `h` loses it. */
  set(c: number, h: string): void {
    this.ensure(c + 1);
    this.remove(c);
    if (!isHexDigest(h)) {
      const prev = this.raw.get(h);
      if (prev !== undefined) {
        this.rawOf.delete(prev);
        this.state[prev] = NONE;
      }
      this.raw.set(h, c);
      this.rawOf.set(c, h);
      this.state[c] = RAW;
      return;
    }
    const x = hashOfHex(h);
    const prev = this.probe(h, x, 0);
    this.digests.write(h, c * 32, 32, "hex");
    this.place(c, prev);
  }

  /** Maps credential `c` (its digest written) to a slot: `prev`'s (which loses it), else the free one probe() found. */
  private place(c: number, prev: number): void {
    this.state[c] = DIGEST;
    if (prev >= 0) {
      this.state[prev] = NONE;
      this.slots[this.at] = c;
      return;
    }
    const free = this.free;
    if (this.slots[free] === TOMBSTONE) this.tombstones--;
    this.slots[free] = c;
    this.live++;
    if ((this.live + this.tombstones) * 5 > this.slots.length * 4) this.rehash();
  }

  /**
   * set(c, s.slice(at, at + 64)) for a hex digest, without cutting the string: a loader passes one
   * string of many digests. Anything but 64 lowercase hex characters there throws. `fresh`: no
   * credential holds this digest (a bulk load of a unique column) — the free slot is taken without
   * comparing digests on the way.
   */
  setDigestAt(c: number, s: string, at: number, fresh = false): void {
    this.ensure(c + 1);
    this.remove(c);
    const x = hashOfHex(s, at);
    const d = this.d, o = c * 32;
    for (let k = 0; k < 32; k++) {
      const hi = s.charCodeAt(at + 2 * k), lo = s.charCodeAt(at + 2 * k + 1);
      const v = hi > 127 || lo > 127 ? -1 : (HEX[hi]! << 4) | HEX[lo]!;
      if (x < 0 || v < 0) throw new Error("not a hex digest");
      d[o + k] = v;
    }
    if (!fresh) return this.place(c, this.probe(s, x, at));
    const slots = this.slots, len = slots.length;
    let i = slotOf(x, len);
    while (slots[i]! >= 0) i = i + 1 === len ? 0 : i + 1;
    this.free = i;
    this.place(c, -1);
  }

  /** Takes credential `c`'s hash away (it is findable no more). */
  remove(c: number): void {
    const s = c < this.state.length ? this.state[c] : NONE;
    if (s === NONE) return;
    this.state[c] = NONE;
    if (s === RAW) {
      this.raw.delete(this.rawOf.get(c)!);
      this.rawOf.delete(c);
      return;
    }
    const slots = this.slots, len = slots.length;
    for (let i = slotOf(this.hashAt(c), len); ; i = i + 1 === len ? 0 : i + 1) {
      const e = slots[i]!;
      if (e === EMPTY) return; // (not reached: a DIGEST credential is in the slots)
      if (e === c) {
        slots[i] = TOMBSTONE;
        this.live--;
        this.tombstones++;
        return;
      }
    }
  }

  /** Outputs of probe(). */
  private at = -1;
  private free = -1;

  private hashAt(c: number): number {
    const d = this.d, o = c * 32;
    return mix(((d[o]! << 24) | (d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!) >>> 0,
      ((d[o + 4]! << 24) | (d[o + 5]! << 16) | (d[o + 6]! << 8) | d[o + 7]!) >>> 0);
  }

  /** The credential whose digest is hex `h` from `from` on (hash `x`), its slot in `at`; or -1, the first free slot in `free`. */
  private probe(h: string, x: number, from: number): number {
    const slots = this.slots, len = slots.length, d = this.d;
    let free = -1;
    for (let i = slotOf(x, len); ; i = i + 1 === len ? 0 : i + 1) {
      const c = slots[i]!;
      if (c === EMPTY) {
        this.free = free < 0 ? i : free;
        return -1;
      }
      if (c === TOMBSTONE) {
        if (free < 0) free = i;
        continue;
      }
      const o = c * 32;
      let k = 0;
      for (; k < 32; k++) {
        const hi = h.charCodeAt(from + 2 * k), lo = h.charCodeAt(from + 2 * k + 1);
        if (hi > 127 || lo > 127 || ((HEX[hi]! << 4) | HEX[lo]!) !== d[o + k]) break; // (a non-hex character makes it negative)
      }
      if (k === 32) {
        this.at = i;
        return c;
      }
    }
  }

  private rehash(): void {
    const old = this.slots;
    const slots = new Int32Array(slotsFor(roomFor(this.live))).fill(EMPTY);
    const len = slots.length;
    for (let i = 0; i < old.length; i++) {
      const c = old[i]!;
      if (c < 0) continue;
      let j = slotOf(this.hashAt(c), len);
      while (slots[j] !== EMPTY) j = j + 1 === len ? 0 : j + 1;
      slots[j] = c;
    }
    this.slots = slots;
    this.tombstones = 0;
  }
}

// Growable typed-array columns and per-owner integer lists: the storage of the compact index. A
// typed array's contents are one block the garbage collector never traces, however many millions
// of entries it holds — unlike Maps, Sets, objects and strings, which it visits one by one.

export type IntArray = Int32Array | Uint32Array | Uint8Array | Float64Array;

/** A copy of `a` with room for `n` entries (new entries filled with `fill`). */
export function grown<T extends IntArray>(a: T, n: number, fill = 0): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  if (fill !== 0) b.fill(fill, a.length);
  return b;
}

/**
 * Capacity for `need` entries with a little headroom (1/64), so a few in-place updates after a
 * build do not copy a column; growth past it is by half (see the callers), so a burst of
 * additions copies seldom.
 */
export function roomFor(need: number): number {
  return Math.max(16, need + (need >> 6) + 1024);
}

export interface ListPoolParts {
  start: Int32Array;
  len: Int32Array;
  data: Int32Array;
  used: number;
  garbage: number;
}

/**
 * One integer list per owner (a user's grants, a group's closure), all in one pool. Replacing a
 * list appends the new one and leaves the old entries as garbage until the next full build.
 */
export class ListPool {
  start: Int32Array;
  len: Int32Array;
  data: Int32Array;
  used: number;
  garbage: number;

  constructor(p: ListPoolParts) {
    this.start = p.start;
    this.len = p.len;
    this.data = p.data;
    this.used = p.used;
    this.garbage = p.garbage;
  }

  static empty(owners: number, data = 1024): ListPool {
    return new ListPool({ start: new Int32Array(owners), len: new Int32Array(owners), data: new Int32Array(data), used: 0, garbage: 0 });
  }

  /** Lists in CSR form from (owner, value) pairs, each list in the pairs' order. */
  static fromPairs(owners: number, ownerOf: Int32Array, valueOf: Int32Array, n: number): ListPool {
    const start = new Int32Array(owners), len = new Int32Array(owners);
    for (let i = 0; i < n; i++) len[ownerOf[i]!]!++;
    let at = 0;
    for (let o = 0; o < owners; o++) {
      start[o] = at;
      at += len[o]!;
    }
    const data = new Int32Array(roomFor(at));
    const fill = new Int32Array(owners);
    for (let i = 0; i < n; i++) {
      const o = ownerOf[i]!;
      data[start[o]! + fill[o]!++] = valueOf[i]!;
    }
    return new ListPool({ start, len, data, used: at, garbage: 0 });
  }

  parts(): ListPoolParts {
    return { start: this.start, len: this.len, data: this.data, used: this.used, garbage: this.garbage };
  }

  /** Drops the data's headroom beyond 1/64 (after a build that sized it by a guess). */
  trim(): void {
    const size = roomFor(this.used);
    if (size < this.data.length) this.data = this.data.slice(0, size);
  }

  ensureOwners(n: number): void {
    if (n <= this.start.length) return;
    const cap = roomFor(n);
    this.start = grown(this.start, cap);
    this.len = grown(this.len, cap);
  }

  list(owner: number): number[] {
    if (owner < 0 || owner >= this.len.length) return [];
    const s = this.start[owner]!;
    return Array.from(this.data.subarray(s, s + this.len[owner]!));
  }

  size(owner: number): number {
    return owner < 0 || owner >= this.len.length ? 0 : this.len[owner]!;
  }

  set(owner: number, values: ArrayLike<number>): void {
    this.ensureOwners(owner + 1);
    const n = values.length;
    this.garbage += this.len[owner]!;
    if (n === 0) {
      this.start[owner] = 0;
      this.len[owner] = 0;
      return;
    }
    if (this.used + n > this.data.length) this.data = grown(this.data, roomFor(this.used + n + (this.data.length >> 1)));
    this.data.set(values, this.used);
    this.start[owner] = this.used;
    this.len[owner] = n;
    this.used += n;
  }
}

export interface TextColumnParts {
  arena: Uint8Array;
  off: Uint32Array;
  len: Uint32Array;
  used: number;
}

/** One (rarely read) string per row, UTF-8 in one arena: usernames. */
export class TextColumn {
  arena: Buffer;
  off: Uint32Array;
  len: Uint32Array;
  used: number;

  constructor(p: TextColumnParts) {
    this.arena = Buffer.from(p.arena.buffer, p.arena.byteOffset, p.arena.byteLength);
    this.off = p.off;
    this.len = p.len;
    this.used = p.used;
  }

  static empty(rows: number, bytes: number): TextColumn {
    return new TextColumn({ arena: new Uint8Array(bytes), off: new Uint32Array(rows), len: new Uint32Array(rows), used: 0 });
  }

  parts(): TextColumnParts {
    return { arena: this.arena, off: this.off, len: this.len, used: this.used };
  }

  /** Shrinks the arena to what is used plus headroom. */
  trim(): void {
    const size = roomFor(this.used);
    if (size >= this.arena.length) return;
    const next = Buffer.alloc(size);
    this.arena.copy(next, 0, 0, this.used);
    this.arena = next;
  }

  get(row: number): string {
    return this.arena.toString("utf8", this.off[row]!, this.off[row]! + this.len[row]!);
  }

  set(row: number, s: string): void {
    if (row >= this.off.length) {
      const cap = roomFor(row + 1);
      this.off = grown(this.off, cap);
      this.len = grown(this.len, cap);
    }
    const max = s.length * 3;
    if (this.used + max > this.arena.length) {
      const next = Buffer.alloc(roomFor(this.used + max + (this.arena.length >> 1)));
      this.arena.copy(next, 0, 0, this.used);
      this.arena = next;
    }
    const n = this.arena.write(s, this.used, "utf8");
    this.off[row] = this.used;
    this.len[row] = n;
    this.used += n;
  }
}

export interface BoundsPoolParts {
  data: Float64Array;
  used: number;
  garbage: number;
}

/**
 * Validity intervals [from, until) shared by users, grants and credentials: most rows have none
 * (both ends open), so a row keeps a 4-byte index into this pool instead of two Float64s, and
 * index 0 is the open interval (-Infinity, +Infinity). A change appends a new pair; the old one
 * is garbage until the next full build.
 */
export class BoundsPool {
  data: Float64Array;
  used: number;
  garbage: number;

  constructor(p: BoundsPoolParts) {
    this.data = p.data;
    this.used = p.used;
    this.garbage = p.garbage;
  }

  static empty(pairs = 64): BoundsPool {
    const data = new Float64Array(Math.max(2, pairs) * 2);
    data[0] = -Infinity;
    data[1] = Infinity;
    return new BoundsPool({ data, used: 1, garbage: 0 });
  }

  parts(): BoundsPoolParts {
    return { data: this.data, used: this.used, garbage: this.garbage };
  }

  from(i: number): number {
    return this.data[2 * i]!;
  }

  until(i: number): number {
    return this.data[2 * i + 1]!;
  }

  /** The index of [from, until): 0 when both ends are open. */
  add(from: number, until: number): number {
    if (from === -Infinity && until === Infinity) return 0;
    if (2 * this.used + 2 > this.data.length) this.data = grown(this.data, 2 * (this.used + 1 + (this.used >> 1)));
    const i = this.used++;
    this.data[2 * i] = from;
    this.data[2 * i + 1] = until;
    return i;
  }

  /** Replaces a row's pair `old` by [from, until): the row's new index (the same when unchanged). */
  replace(old: number, from: number, until: number): number {
    if (old !== 0 && this.data[2 * old] === from && this.data[2 * old + 1] === until) return old;
    if (old !== 0) this.garbage++;
    return this.add(from, until);
  }

  /** Drops the headroom (after a build). */
  trim(): void {
    const size = 2 * roomFor(this.used);
    if (size < this.data.length) this.data = this.data.slice(0, size);
  }
}
